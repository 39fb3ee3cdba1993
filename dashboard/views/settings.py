"""Settings: ListenBrainz (token validated, stored encrypted, never shown back), Last.fm, analysis
preferences, the mood lexicon and the time zone."""

import streamlit as st

from dashboard import scope as scoping
from dashboard.components import state
from dashboard.components.guard import run_page
from dashboard.data import accounts, instance, listenbrainz


def _msg(scope, section: str, kind: str, text: str) -> None:
    st.session_state[state.key(scope, f"settings_msg:{section}")] = (kind, text)


def _show(scope, section: str) -> None:
    message = st.session_state.pop(state.key(scope, f"settings_msg:{section}"), None)
    if message:
        getattr(st, message[0])(message[1])


def _save_listenbrainz(user_id: int, token_key: str) -> None:
    """Callback: read the token, clear the field at once (it is never rendered back), validate, store."""
    from sidetrack_pipeline.sources.listenbrainz_api import InvalidToken, ListenBrainzError
    from sidetrack_pipeline.users import Secret, SecretKeyError

    token = (st.session_state.get(token_key) or "").strip()
    st.session_state[token_key] = ""
    scope = scoping.for_callback(user_id)
    if scope is None:  # signed out (or someone else signed in) since the form was drawn
        return
    if not token:
        _msg(scope, "lb", "warning", "Paste your ListenBrainz user token first "
                                     "(listenbrainz.org → Settings → User token).")
        return
    try:
        lb_user = listenbrainz.validate(token)
    except InvalidToken:
        _msg(scope, "lb", "error", "ListenBrainz rejected this token, so nothing was saved. Copy the "
                                   "user token again from listenbrainz.org → Settings and paste it whole.")
        return
    except ListenBrainzError:
        _msg(scope, "lb", "error", "ListenBrainz could not be reached to check the token; nothing was "
                                   "saved. Try again in a minute.")
        return
    except Exception:
        _msg(scope, "lb", "error", "ListenBrainz could not be reached to check the token; nothing was saved.")
        return
    try:
        accounts.set_account(scope, listenbrainz_user=lb_user, listenbrainz_token=Secret(token))
    except SecretKeyError:
        _msg(scope, "lb", "error", "The token is valid, but this server cannot store it: tokens are kept "
                                   "only encrypted and SIDETRACK_SECRET_KEY is not set (or wrong). Ask "
                                   "whoever runs SideTrack to set it (`sidetrack users keygen`).")
        return
    _msg(scope, "lb", "success", f"Connected to ListenBrainz as **{lb_user}**. The token is stored "
                                 "encrypted and will not be shown again.")


def _remove_token(user_id: int) -> None:
    scope = scoping.for_callback(user_id)
    if scope is None:
        return
    accounts.set_account(scope, listenbrainz_token=None)
    _msg(scope, "lb", "success", "The stored ListenBrainz token was removed.")


def render() -> None:
    scope = scoping.current()
    st.title("Settings")
    mine = accounts.settings(scope)

    st.subheader("ListenBrainz")
    if mine["has_token"]:
        st.markdown(f"Connected as **{mine['listenbrainz_user'] or '?'}** · a token is stored (encrypted, hidden).")
    else:
        st.markdown("Not connected. Your user token is on listenbrainz.org → Settings → *User token*.")
    st.text_input("User token", type="password", placeholder="paste a new token", key=state.key(scope, "lb_token"),
                  help="Checked with ListenBrainz before it is saved; stored encrypted, never shown again.")
    c = st.columns(2)
    c[0].button("Validate and save", type="primary", key=state.key(scope, "lb_save"),
                on_click=_save_listenbrainz, args=(scope.user_id, state.key(scope, "lb_token")))
    if mine["has_token"]:
        c[1].button("Remove stored token", key=state.key(scope, "lb_remove"), on_click=_remove_token,
                    args=(scope.user_id,))
    _show(scope, "lb")

    st.subheader("Last.fm")
    lastfm = st.text_input("Last.fm user name", value=mine["lastfm_user"] or "", key=state.key(scope, "lastfm_user"))
    if st.button("Save Last.fm user", key=state.key(scope, "lastfm_save")):
        accounts.set_account(scope, lastfm_user=lastfm.strip() or None)
        st.success("Saved." + (f" Import with `sidetrack import-lastfm --user {scope.user_name}`." if lastfm.strip() else ""))

    st.subheader("Analysis (this SideTrack server)")
    switches = instance.current()
    editable = scope.mode == "local"   # shared by every user: only the machine's owner changes them
    locked = switches.locked

    def _toggle(label: str, value: bool, key: str, env: str) -> bool:
        return st.toggle(label, value=value, key=state.key(scope, key), disabled=not editable or env in locked,
                         help=f"Set by {env} in the server's environment." if env in locked else None)

    gpu = _toggle("Use the GPU when there is one", switches.use_gpu, "gpu", "TORCH_DEVICE")
    stems = _toggle("Measure pumpiness on Demucs stems (slower)", switches.use_stems, "stems", "USE_DEMUCS")
    excerpt = _toggle(f"Analyse {instance.EXCERPT_SECONDS}-second excerpts instead of whole tracks (faster)",
                      switches.excerpts, "excerpts", "EXCERPT_SECONDS")
    if editable:
        st.caption("These apply to the whole server from the next analysis run (kept in "
                   "$SIDETRACK_HOME/preferences.json); a variable in the server's environment wins.")
    else:
        st.caption("Shared by everyone on this server: its administrator sets them (TORCH_DEVICE, "
                   "USE_DEMUCS, EXCERPT_SECONDS, LEXICON_EXTRA_WORDS).")

    st.subheader("Mood lexicon")
    from sidetrack_pipeline.scoring.lexicon import SEED_GLOSSES, LexiconError, normalise_word

    st.caption("Seed words: " + ", ".join(SEED_GLOSSES))
    extra_text = st.text_input("Extra words for this server (comma-separated)", value=", ".join(switches.extra_words),
                               key=state.key(scope, "lexicon"),
                               disabled=not editable or "LEXICON_EXTRA_WORDS" in locked)

    st.subheader("Time zone")
    zones = accounts.timezones().tolist()
    if scope.timezone not in zones:
        zones.insert(0, scope.timezone)
    browser = st.context.timezone
    zone = st.selectbox("Your time zone (weeks start on Monday here)", zones, index=zones.index(scope.timezone),
                        key=state.key(scope, "timezone"))
    if browser and browser != scope.timezone:
        st.caption(f"Your browser says {browser}.")

    if st.button("Save settings", type="primary", key=state.key(scope, "settings_save")):
        try:
            words = [normalise_word(w, "word") for w in extra_text.split(",") if w.strip()]
        except LexiconError as exc:
            st.error(f"Not saved: {exc}")
            return
        if editable:
            instance.save(gpu, stems, excerpt, words)
        if zone != scope.timezone:
            accounts.set_account(scope, timezone=zone)
            st.success(f"Saved. Time zone is now {zone}: the weekly views follow after the next "
                       "`sidetrack materialize`.")
        else:
            st.success("Saved.")


run_page(render)
