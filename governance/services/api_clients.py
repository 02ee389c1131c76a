"""API clients: make one (the token is shown once), authenticate a token, revoke one."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from governance.audit import log_action
from governance.errors import NotAllowed, NotFound, ValidationFailed
from governance.ids import is_uuid
from governance.models import ApiClient, ApiClientRole, AssignmentRequest, Catalog, ClientRequestKey, User
from governance.models.apiclient import CATALOG_ROLE_OF
from governance.permissions import can_manage_api_clients
from governance.services.text import clean_name

TOKEN_PREFIX = "pcs_"
# Writing "last used" on every call would turn each read into a write; a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    client: ApiClient
    token: str


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 cannot be brute-forced; a slow
    # password hash would only make every API call slow.
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_client(
    actor: Any,
    name: str,
    *,
    role: str = "",
    catalog_name: str | None = None,
    username: str | None = None,
) -> IssuedToken:
    """An application token with ``role`` (and ``catalog_name`` for catalog roles), or a
    personal token acting as ``username``."""
    if not can_manage_api_clients(actor):
        raise NotAllowed("Only global administrators manage API clients.")
    name = clean_name(name, "name", max_length=128)
    user = None
    catalog = None
    if username:
        if role or catalog_name:
            raise ValidationFailed("A personal token acts as its user: give --user alone, without --role.")
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationFailed(f"No enabled user named {username!r}.", field="user")
        role = ""
    else:
        if role not in ApiClientRole.values:
            raise ValidationFailed(f"Choose a role: {', '.join(ApiClientRole.values)}.", field="role")
        if role in CATALOG_ROLE_OF:
            if not catalog_name:
                raise ValidationFailed(f"The role {role} needs a catalog (--catalog NAME).", field="catalog")
            catalog = Catalog.objects.filter(display_name=catalog_name).first()
            if catalog is None:
                raise ValidationFailed(f"No catalog named {catalog_name!r}.", field="catalog")
        elif catalog_name:
            raise ValidationFailed(f"The role {role} acts in every catalog; leave out --catalog.", field="catalog")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiClient.objects.filter(name__iexact=name).exists():
            raise ValidationFailed("An API client with this name already exists.", field="name")
        client = ApiClient.objects.create(
            name=name,
            role=role,
            catalog=catalog,
            user=user,
            token_hash=hash_token(token),
            token_prefix=token[: len(TOKEN_PREFIX) + 4],
        )
        log_action(actor, "api_client.created", client, rights=client.describe_rights())
    return IssuedToken(client=client, token=token)


def api_clients_for(actor: Any) -> QuerySet[ApiClient]:
    """The API clients a person may see and revoke: all of them for global administrators."""
    if actor is None or not can_manage_api_clients(actor):
        raise NotFound("Page not found.")
    return ApiClient.objects.select_related("user", "catalog")


def revoke_api_client(actor: Any, client_id: UUID | str) -> ApiClient:
    """Revoke a token: it stops working at once. Revoking twice is a no-op."""
    if not can_manage_api_clients(actor):
        raise NotFound("API client not found.")
    if not is_uuid(client_id):
        raise NotFound("API client not found.")
    with transaction.atomic():
        client = ApiClient.objects.select_for_update(of=("self",)).filter(pk=client_id).first()
        if client is None:
            raise NotFound("API client not found.")
        if client.revoked_at is None:
            client.revoked_at = timezone.now()
            client.save(update_fields=["revoked_at"])
            log_action(actor, "api_client.revoked", client)
    return client


def authenticate_token(token: str) -> ApiClient | None:
    """The live client a bearer token belongs to, or None (unknown, revoked, user disabled)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    client = ApiClient.objects.select_related("user", "catalog").filter(token_hash=hash_token(token)).first()
    if client is None or not client.is_active:
        return None
    now = timezone.now()
    if client.last_used_at is None or client.last_used_at < now - LAST_USED_RESOLUTION:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


def create_once(client: ApiClient, key: str, create: Callable[[], AssignmentRequest]) -> tuple[AssignmentRequest, bool]:
    """Run ``create`` once per client and ``client-request-id``; (what it made, made now?).

    The key row is inserted first, in the transaction of the create: a retry racing the
    first call waits on the unique index until that one commits (then answers its request)
    or rolls back (then creates). Without a key every call creates.
    """
    if not key:
        return create(), True
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ClientRequestKey.objects.create(client=client, key=key)
        except IntegrityError:
            earlier = ClientRequestKey.objects.filter(client=client, key=key).select_related("request").first()
            if earlier is None or earlier.request is None:
                raise NotFound("The request made with this client-request-id no longer exists.") from None
            return earlier.request, False
        made = create()
        record.request = made
        record.save(update_fields=["request"])
    return made, True
