"""Who is looking: sign-in (OIDC through `st.login`) or the single-user local mode -> a `UserScope`.

The scope is made ONCE per script run, by the entry (`dashboard/app.py`), before any page runs,
and every data function in `dashboard.data` takes it as its first argument: the user id a query
filters on, the cache key it is stored under and the user an export is made for all come from
here, never from a page.

* OIDC mode: `.streamlit/secrets.toml` has an `[auth]` section (Google: `server_metadata_url =
  "https://accounts.google.com/.well-known/openid-configuration"`). The signed-in identity's
  e-mail (`st.user.email`) is the SideTrack user name; the user is created on first sign-in.
  Nobody who is not signed in sees any data. Needs Authlib>=1.3.2 for `st.login`.
* Local mode (no `[auth]`): clearly labelled, for a machine you own. The user is
  $SIDETRACK_DASHBOARD_USER, else the only SideTrack user, else (several users) the one picked in
  the sidebar, else a new user `me`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import streamlit as st

LOCAL_USER_ENV = "SIDETRACK_DASHBOARD_USER"
DEFAULT_LOCAL_USER = "me"
_SCOPE_KEY = "_sidetrack_scope"


@dataclass(frozen=True)
class UserScope:
    """The one user every query, cache entry and export of this run belongs to."""

    user_id: int
    user_name: str
    timezone: str
    mode: Literal["oidc", "local"]
    db: str  # the database URL: part of every cache key, so two databases never share entries

    @property
    def label(self) -> str:
        return "Signed in" if self.mode == "oidc" else "Local single-user mode"


class NoScope(RuntimeError):
    """A page ran without the entry having established who is looking."""


def auth_configured() -> bool:
    """True when `.streamlit/secrets.toml` (or the test's secrets) has an `[auth]` section."""
    try:
        return bool(st.secrets.get("auth"))
    except Exception:  # no secrets file at all
        return False


def _authlib_ok() -> bool:
    try:
        import authlib  # noqa: F401  (st.login needs it; optional dependency)
    except ImportError:
        return False
    return True


def _sign_in_page() -> None:
    st.title("SideTrack")
    st.subheader("Sign in")
    st.write("This SideTrack dashboard is shared: sign in to see your own listening.")
    if not _authlib_ok():
        st.error("Sign-in is configured, but the Authlib package is missing on the server "
                 "(`pip install 'Authlib>=1.3.2'`). Ask whoever runs SideTrack to install it.")
        st.stop()
    auth = st.secrets.get("auth") or {}
    named = [name for name, value in auth.items() if hasattr(value, "keys")]  # [auth.<provider>] tables
    if "client_id" in auth or not named:
        if st.button("Sign in", type="primary", key="login"):
            st.login()
    for name in named:
        if st.button(f"Sign in with {name.capitalize()}", type="primary", key=f"login_{name}"):
            st.login(name)
    st.stop()


def _oidc_user_name(interactive: bool = True) -> str | None:
    """The signed-in, verified e-mail; otherwise the sign-in page (which stops the run), or None
    when not `interactive` (inside a widget callback)."""
    user = st.user
    email = str(user.get("email") or "").strip().lower() if user.get("is_logged_in") else ""
    if email and user.get("email_verified") is not False:
        return email
    if not interactive:
        return None
    if not user.get("is_logged_in"):
        _sign_in_page()
    st.error("Your identity provider did not give a verified e-mail address, which SideTrack "
             "needs to know whose listens to show. Sign in with another account.")
    if st.button("Sign out", key="logout_unverified"):
        st.logout()
    st.stop()


def _local_user_name(names: list[str], interactive: bool = True) -> str:
    wanted = os.environ.get(LOCAL_USER_ENV, "").strip()
    if wanted:
        return wanted
    if len(names) == 1:
        return names[0]
    if names and not interactive:
        picked = st.session_state.get("_local_listener")
        return picked if picked in names else names[0]
    if names:
        return st.sidebar.selectbox("Listener (local mode)", names, key="_local_listener",
                                    help="No sign-in is configured: everyone who can open this "
                                         "page is the machine's owner.")
    return DEFAULT_LOCAL_USER


def resolve(interactive: bool = True) -> UserScope | None:
    """Who is looking, from the sign-in (or the local-mode rules); None only when not
    `interactive` and nobody is signed in."""
    from dashboard.data import accounts

    if auth_configured():
        email = _oidc_user_name(interactive)
        return accounts.scope_for(email, "oidc") if email else None
    return accounts.scope_for(_local_user_name(accounts.user_names(), interactive), "local")


def establish() -> UserScope:
    """The entry's first step of every run: resolve who is looking (stopping at the sign-in page)
    and hold the scope for the pages of this run."""
    st.session_state.pop(_SCOPE_KEY, None)
    scope = resolve(interactive=True)
    st.session_state[_SCOPE_KEY] = scope
    return scope


def release() -> None:
    """The entry's last step: the scope does not outlive the run that established it."""
    st.session_state.pop(_SCOPE_KEY, None)


def current() -> UserScope:
    """The scope the entry established for this run (pages call this; they never build one)."""
    scope = st.session_state.get(_SCOPE_KEY)
    if not isinstance(scope, UserScope):
        raise NoScope("open the dashboard through its entry (`sidetrack dashboard`), not a page file")
    return scope


def for_callback(user_id: int) -> UserScope | None:
    """In a widget callback (run before the script, outside any page): the scope of whoever is
    signed in now, if it is the user the widget was drawn for; else None (do nothing)."""
    scope = resolve(interactive=False)
    return scope if scope is not None and scope.user_id == user_id else None


def sidebar_identity(scope: UserScope) -> None:
    if scope.mode == "oidc":
        st.sidebar.caption(f"Signed in as **{scope.user_name}** · {scope.timezone}")
        if st.sidebar.button("Sign out", key="logout"):
            st.logout()
    else:
        st.sidebar.caption(f"🏠 **Local single-user mode** (no sign-in configured) · "
                           f"listener **{scope.user_name}** · {scope.timezone}")
