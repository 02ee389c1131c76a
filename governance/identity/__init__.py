"""Sign-in and identity sources: OpenID Connect single sign-on, the LDAP directory reader
(``ldap_reader.py``) and their system checks.

Applying what the directory says, and the external users' lifecycle, are services
(``governance/services/directory_sync.py``, ``external_users.py``).
"""
