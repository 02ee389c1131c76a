"""The portal's URL modules, one per area; ``portal/urls.py`` mounts each under its path.

| module | mounted at | namespace |
|---|---|---|
| ``home`` | ``/`` | (none): ``home`` sends each person to their portal |
| ``accounts`` | ``/accounts/`` | (none): ``login``, ``logout``, single sign-on |
| ``admin_portal`` | ``/governance/`` | ``governance`` |
| ``connectors`` | ``/governance/connectors/`` | ``connectors`` |
| ``api_clients`` | ``/governance/api-clients/`` | ``api_clients`` |
| ``identity`` | ``/governance/identity/`` | ``identity`` |

The Graph API's paths are the API's own (``governance/api/urls.py``, ``/v1.0/``); My Access
has ``myaccess/urls.py`` (``/myaccess/``).
"""
