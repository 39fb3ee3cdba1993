"""The zero-shot mood lexicon: which words are scored, what each means, and which axes it moves.

The seed is twenty words. Each has a short *gloss* (a few plain synonyms) because a single word
embeds noisily in MiniLM — "floaty" on its own sits nearer 'dance' and 'rock' than 'ambient';
averaging the word's prompts with its gloss's prompts ranks the expected musicnn tags higher
(measured in docs/axes.md, "Zero-shot lexicon").

Users extend the lexicon without code:

* ``LEXICON_EXTRA_WORDS=dreamy,dark`` — comma-separated words;
* ``LEXICON_FILE=/path/words.txt`` — one word per line, ``#`` starts a comment.

Extra words get lexicon scores (table `lexicon_scores`) but no axis weights, so they never move
an axis score. A word is 1–40 characters: lower-case letters, digits, spaces, ``-`` and ``'``,
starting with a letter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sidetrack_pipeline.settings import effective_env

EXTRA_WORDS_ENV = "LEXICON_EXTRA_WORDS"
FILE_ENV = "LEXICON_FILE"
MAX_WORDS = 200

SEED_GLOSSES: dict[str, str] = {
    "euphoric": "joyful, happy, uplifting and ecstatic",
    "melancholic": "sad, wistful and sorrowful",
    "driving": "energetic, pounding and relentless, a fast dance beat",
    "hypnotic": "repetitive, trance-like and mesmerising",
    "gritty": "dirty, distorted and rough",
    "airy": "light, open and spacious",
    "warm": "mellow, soft and rich",
    "cold": "icy, clinical and detached",
    "aggressive": "loud, heavy and violent",
    "floaty": "dreamy, weightless, drifting and calm",
    "groovy": "funky, rhythmic and danceable",
    "minimal": "sparse, stripped-down and quiet",
    "maximal": "dense, layered and busy",
    "industrial": "mechanical, harsh and metallic",
    "ethereal": "heavenly, ambient and otherworldly",
    "playful": "fun, bouncy and cheerful",
    "introspective": "thoughtful, quiet and reflective",
    "cinematic": "epic, orchestral and dramatic",
    "raw": "unpolished, lo-fi and live",
    "polished": "slick, clean and well-produced",
}
SEED_WORDS: tuple[str, ...] = tuple(SEED_GLOSSES)

# word -> {axis: weight}. A positive weight means "the more the word fits, the higher the axis";
# a negative one lowers it. |weight| is how strongly the word speaks for the axis relative to the
# other words informing it. Words absent here (raw, polished, extra words) inform no axis.
WORD_AXES: dict[str, dict[str, float]] = {
    "euphoric": {"valence": 1.0, "energy": 0.5},
    "melancholic": {"valence": -1.0, "energy": -0.3},
    "driving": {"energy": 1.0, "danceability": 0.3},
    "hypnotic": {"rhythmic_complexity": -0.5, "danceability": 0.3},
    "gritty": {"texture_density": 0.4, "brightness": -0.3},
    "airy": {"brightness": 0.7, "texture_density": -0.5},
    "warm": {"brightness": -0.5, "valence": 0.3},
    "cold": {"brightness": 0.5, "valence": -0.3},
    "aggressive": {"energy": 1.0, "valence": -0.4},
    "floaty": {"energy": -0.8, "texture_density": -0.3},
    "groovy": {"danceability": 1.0, "rhythmic_complexity": 0.3},
    "minimal": {"texture_density": -1.0},
    "maximal": {"texture_density": 1.0},
    "industrial": {"energy": 0.5, "valence": -0.3, "texture_density": 0.3},
    "ethereal": {"energy": -0.8, "brightness": 0.3},
    "playful": {"valence": 0.7, "rhythmic_complexity": 0.3},
    "introspective": {"valence": -0.4, "energy": -0.5},
    "cinematic": {"texture_density": 0.4},
}

_WORD = re.compile(r"^[a-z][a-z0-9 '\-]{0,39}$")


class LexiconError(ValueError):
    """The configured lexicon is invalid; the message says which word or file and why."""


@dataclass(frozen=True)
class Lexicon:
    words: tuple[str, ...]
    glosses: Mapping[str, str]          # word -> gloss ("" for extra words)
    axes: Mapping[str, Mapping[str, float]]  # word -> {axis: weight}

    def informed_axes(self) -> tuple[str, ...]:
        """Axes at least one lexicon word has a weight for, in a stable order."""
        seen: dict[str, None] = {}
        for word in self.words:
            for axis in self.axes.get(word, {}):
                seen.setdefault(axis, None)
        return tuple(seen)

    def words_for(self, axis: str) -> dict[str, float]:
        return {w: self.axes[w][axis] for w in self.words if axis in self.axes.get(w, {})}


def normalise_word(raw: str, where: str) -> str:
    word = " ".join(raw.strip().lower().split())
    if not word:
        raise LexiconError(f"{where}: empty word")
    if not _WORD.match(word):
        raise LexiconError(f"{where}: {raw.strip()!r} is not a valid lexicon word (1–40 characters: "
                           f"letters, digits, spaces, '-' or \"'\", starting with a letter)")
    return word


def _extra_from_env(value: str) -> list[str]:
    if not value.strip():
        return []
    return [normalise_word(part, f"{EXTRA_WORDS_ENV} item {i}")
            for i, part in enumerate(value.split(","), start=1)]


def _extra_from_file(path_text: str) -> list[str]:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise LexiconError(f"{FILE_ENV}={path_text}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{FILE_ENV}={path_text}: cannot read it as UTF-8 text: {exc}") from exc
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        if line.strip():
            words.append(normalise_word(line, f"{path}:{number}"))
    return words


def load_lexicon(env: Mapping[str, str] | None = None) -> Lexicon:
    """The seed words plus the user's extra words (env / file), de-duplicated, seed first."""
    if env is None:
        env = effective_env()   # LEXICON_EXTRA_WORDS may come from the dashboard's preferences
    extra = _extra_from_env(env.get(EXTRA_WORDS_ENV, ""))
    if env.get(FILE_ENV, "").strip():
        extra += _extra_from_file(env[FILE_ENV].strip())
    words = list(dict.fromkeys([*SEED_WORDS, *extra]))
    if len(words) > MAX_WORDS:
        raise LexiconError(f"the lexicon has {len(words)} words; at most {MAX_WORDS} are allowed")
    glosses = {w: SEED_GLOSSES.get(w, "") for w in words}
    return Lexicon(tuple(words), glosses, {w: WORD_AXES[w] for w in words if w in WORD_AXES})
