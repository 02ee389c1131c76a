"""Sign-in and identity sources: OpenID Connect single sign-on and its system checks.

The LDAP directory sync and the external users' lifecycle are services
(``governance/services/directory_sync.py``, ``external_users.py``).
"""
