"""Users and their per-user settings: ListenBrainz user + token, Last.fm user, time zone.

Every listen, label and setting belongs to a user (`users.user_id`). The ListenBrainz token is
a credential: it is stored Fernet-encrypted (AES-128-CBC + HMAC) with a key from the environment
variable SIDETRACK_SECRET_KEY, never in plain text, and it travels through the code as a
`Secret`, whose str/repr are masked, so a log line or a traceback cannot leak it. Reading it
back needs the same key; a wrong or missing key is a clear error, not garbage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from sidetrack_pipeline.ingest.catalog import ensure_user

SECRET_KEY_ENV = "SIDETRACK_SECRET_KEY"


class SecretKeyError(RuntimeError):
    """SIDETRACK_SECRET_KEY is missing, malformed, or not the key the secret was stored with."""


class Secret:
    """A credential whose text is only available through `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def generate_key() -> str:
    """A new key for SIDETRACK_SECRET_KEY."""
    return Fernet.generate_key().decode()


def _fernet(key: str | None = None) -> Fernet:
    key = key if key is not None else os.environ.get(SECRET_KEY_ENV, "").strip()
    if not key:
        raise SecretKeyError(
            f"{SECRET_KEY_ENV} is not set: SideTrack stores tokens only encrypted. Generate a key "
            f"once with `sidetrack users keygen`, keep it (e.g. in your .env), and set "
            f"{SECRET_KEY_ENV} for every SideTrack process.")
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise SecretKeyError(
            f"{SECRET_KEY_ENV} is not a valid key (32 url-safe base64-encoded bytes, as "
            f"`sidetrack users keygen` prints)") from exc


def encrypt(secret: Secret, key: str | None = None) -> bytes:
    return _fernet(key).encrypt(secret.reveal().encode())


def decrypt(token: bytes, key: str | None = None) -> Secret:
    try:
        return Secret(_fernet(key).decrypt(bytes(token)).decode())
    except InvalidToken:
        raise SecretKeyError(
            f"the stored token cannot be decrypted with this {SECRET_KEY_ENV}: it was saved with "
            f"another key. Set the original key, or store the token again "
            f"(`sidetrack users set NAME --listenbrainz-token`).") from None


@dataclass(frozen=True)
class UserSettings:
    user_id: int
    user_name: str
    timezone: str
    listenbrainz_user: str | None
    lastfm_user: str | None
    has_listenbrainz_token: bool

    def listenbrainz_token(self, conn, key: str | None = None) -> Secret | None:
        """The decrypted token (needs SIDETRACK_SECRET_KEY), or None when none is stored."""
        with conn.cursor() as cur:
            cur.execute("select listenbrainz_token from user_settings where user_id = %s",
                        (self.user_id,))
            row = cur.fetchone()
        return decrypt(row[0], key) if row and row[0] is not None else None


_UNSET = object()


def set_user(conn, user_name: str, *, timezone: str | None = None,
             listenbrainz_user: str | None | object = _UNSET,
             listenbrainz_token: Secret | None | object = _UNSET,
             lastfm_user: str | None | object = _UNSET, key: str | None = None) -> UserSettings:
    """Create `user_name` if needed and change only the settings given (None clears one)."""
    changes: dict[str, object] = {}
    if listenbrainz_user is not _UNSET:
        changes["listenbrainz_user"] = listenbrainz_user or None
    if lastfm_user is not _UNSET:
        changes["lastfm_user"] = lastfm_user or None
    if listenbrainz_token is not _UNSET:
        changes["listenbrainz_token"] = (encrypt(listenbrainz_token, key)
                                         if listenbrainz_token else None)
    with conn.cursor() as cur:
        user_id = ensure_user(cur, user_name, timezone)
        cur.execute("insert into user_settings (user_id) values (%s) on conflict do nothing",
                    (user_id,))
        for column, value in changes.items():  # column names come from the fixed set above
            cur.execute(f"update user_settings set {column} = %s, updated_at = now() "
                        f"where user_id = %s", (value, user_id))
    return get_user(conn, user_name)


def get_user(conn, user_name: str) -> UserSettings:
    with conn.cursor() as cur:
        cur.execute("""select u.user_id, u.user_name, u.timezone, s.listenbrainz_user, s.lastfm_user,
                              s.listenbrainz_token is not null
                       from users u left join user_settings s using (user_id)
                       where u.user_name = %s""", (user_name,))
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no SideTrack user {user_name!r} (create one with `sidetrack users set "
                          f"{user_name} ...`)")
    return UserSettings(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def list_users(conn) -> list[UserSettings]:
    with conn.cursor() as cur:
        cur.execute("select user_name from users order by user_name")
        names = [r[0] for r in cur.fetchall()]
    return [get_user(conn, name) for name in names]
