"""The curated seed of the tag → vibe-axis dictionary (method `tags-v1`).

Each seed tag maps to the axes it can honestly speak about, with a weight in −1..1: the
direction a track carrying that tag leans on the axis (+ = towards 1, − = towards 0) and how
sure the word is about it. An axis a tag says nothing about is left out (no tag measures
`stereo_size`; only "wide"/"mono" hint at it). Tags are written normalised
(`tag_axes.normalise`). Neutral seeds (an empty mapping) are words listeners use that say
nothing about any axis ("seen live", "electronic"): an unseen tag nearest to one of them stays
unmapped instead of borrowing a genre's weights.

Short axis keys: E energy, V valence, D danceability, B brightness, R rhythmic_complexity,
P pumpiness, T texture_density, S stereo_size, BPM tempo, M mode_confidence.
"""

from __future__ import annotations

_KEYS = {"E": "energy", "V": "valence", "D": "danceability", "B": "brightness",
         "R": "rhythmic_complexity", "P": "pumpiness", "T": "texture_density", "S": "stereo_size",
         "BPM": "tempo", "M": "mode_confidence"}


def _w(**weights: float) -> dict[str, float]:
    return {_KEYS[k]: v for k, v in weights.items()}


SEED: dict[str, dict[str, float]] = {
    # --- electronic genres ------------------------------------------------------------------
    "techno": _w(E=.6, V=-.3, D=.7, P=.5, BPM=.4, R=-.2),        # driving 4/4, 125-135 BPM, minor, repetitive
    "hard techno": _w(E=.9, V=-.4, D=.6, P=.7, BPM=.7, T=.5),    # 140+ BPM, distorted kicks, saturated
    "industrial": _w(E=.7, V=-.6, T=.6, B=.2),                   # harsh, metallic, bleak; not always danceable
    "minimal techno": _w(E=.2, V=-.1, D=.6, P=.3, BPM=.3, T=-.6),  # few elements, groove-led
    "dub techno": _w(E=-.2, V=-.2, D=.4, P=.2, B=-.6, T=.3),     # filtered chords in reverb wash, muted highs
    "deep house": _w(E=-.1, V=.2, D=.7, P=.4, BPM=.1, B=-.3),    # warm, rounded, ~120 BPM
    "house": _w(E=.4, V=.4, D=.8, P=.6, BPM=.3),                 # four-to-the-floor, sidechained, upbeat
    "acid": _w(E=.6, V=-.1, D=.6, B=.4, R=.2, BPM=.4),           # squelchy resonant 303 lines are bright
    "trance": _w(E=.6, V=.4, D=.6, P=.4, B=.3, BPM=.5, T=.4),    # 135-140 BPM, big supersaw pads, uplifting
    "psytrance": _w(E=.8, V=.1, D=.6, R=.4, B=.3, BPM=.7, T=.5),  # 140-150 BPM, busy rolling bass
    "drum and bass": _w(E=.8, D=.4, R=.7, BPM=.9, T=.4),         # 170+ BPM breakbeats
    "jungle": _w(E=.7, D=.4, R=.9, BPM=.9, T=.4),                # chopped amen breaks at 160-170
    "dubstep": _w(E=.7, V=-.3, R=.4, BPM=.4, T=.5, B=-.2),       # 140 half-time, heavy sub and wobble
    "breakbeat": _w(E=.5, D=.6, R=.7, BPM=.3),                   # syncopated broken beats
    "idm": _w(V=-.1, D=-.3, R=.8, T=.2),                         # irregular, programmed complexity
    "ambient": _w(E=-.9, D=-.8, R=-.5, P=-.6, BPM=-.7, B=-.2),   # beatless, soft, slow
    "downtempo": _w(E=-.5, V=.1, D=.1, BPM=-.7),                 # slow grooves, 80-110 BPM
    "chillout": _w(E=-.6, V=.4, P=-.3, BPM=-.5),                 # relaxed, pleasant
    "trip hop": _w(E=-.3, V=-.5, D=.2, BPM=-.6, B=-.3),          # slow, moody, dusty
    "synthwave": _w(E=.3, V=.3, D=.4, B=.3, BPM=.2),             # 80s nostalgia, bright synths
    "electro": _w(E=.5, D=.7, R=.5, B=.3),                       # syncopated 808 funk, robotic
    "gabber": _w(E=1., V=-.4, P=.6, BPM=1., T=.6, B=.3),         # 160-200 BPM distorted kicks
    "hardcore": _w(E=.9, V=-.2, BPM=.9, T=.5),                   # fast and loud (either hardcore)
    "lo fi": _w(E=-.5, V=.1, B=-.6, BPM=-.4, T=-.2),             # muffled, rolled-off highs, sleepy beats
    "garage": _w(E=.3, V=.3, D=.7, R=.5),                        # shuffled swung beats
    "uk garage": _w(E=.4, V=.3, D=.8, R=.6, BPM=.3),             # 2-step: skippy, syncopated, ~132 BPM
    "footwork": _w(E=.6, D=.3, R=.9, BPM=.9),                    # 160 BPM, triplet kicks, chopped vocals
    "vaporwave": _w(E=-.5, V=.1, B=-.3, BPM=-.5),                # slowed-down, hazy samples
    "darkwave": _w(E=.1, V=-.8, D=.2, B=-.3),                    # gloomy post-punk synths
    "ebm": _w(E=.6, V=-.5, D=.6, P=.3, R=-.2),                   # body music: stomping, martial, minor
    "noise": _w(E=.8, V=-.5, D=-.8, B=.5, T=1.),                 # broadband, dense, not danceable
    "drone": _w(E=-.6, D=-1., R=-.8, BPM=-.8, T=.4),             # sustained tones, no pulse
    "edm": _w(E=.7, V=.4, D=.7, P=.6, B=.3),                     # festival big-room: loud, pumping
    "electro house": _w(E=.7, V=.3, D=.8, P=.6, B=.3, BPM=.3),   # loud, sidechained, bright leads
    "progressive house": _w(E=.4, V=.3, D=.7, P=.4, T=.3),       # long builds, layered
    "tech house": _w(E=.5, D=.8, P=.5, BPM=.3, T=-.2),           # groovy, percussive, stripped
    "dub": _w(E=-.2, D=.4, BPM=-.4, B=-.5, T=.2),                # bass and echo, slow
    "glitch": _w(R=.6, B=.3, D=-.2),                             # stuttered, clicks and cuts
    "experimental": _w(R=.4, D=-.4),                             # rarely a steady groove
    "new age": _w(E=-.7, V=.4, D=-.7, BPM=-.5),                  # soothing, beatless
    "hardgroove": _w(E=.7, D=.8, R=.4, P=.5, BPM=.5),            # looped percussive techno, 135-145 BPM
    "hardstyle": _w(E=.9, V=-.1, P=.7, BPM=.8, T=.6),            # 150 BPM distorted reverse-bass kicks
    "trap": _w(E=.5, D=.5, R=.5, T=.3),                          # half-time 808s, rolling hi-hats
    "grime": _w(E=.7, V=-.4, R=.5, BPM=.4),                      # 140 BPM, cold square-wave riffs
    "rave": _w(E=.8, V=.3, D=.7, BPM=.5),                        # hoover stabs, breakbeats, hands up
    # --- other genres -----------------------------------------------------------------------
    "shoegaze": _w(E=.3, V=-.1, B=-.2, T=.8),                    # walls of guitar fuzz
    "dream pop": _w(E=-.3, V=.2, B=.1, T=.4),                    # hazy, reverbed, soft
    "disco": _w(E=.5, V=.8, D=.9, P=.3, B=.3, BPM=.3),           # joyous four-to-the-floor
    "nu disco": _w(E=.4, V=.7, D=.8, B=.3, BPM=.2),              # modern disco edits
    "funk": _w(E=.5, V=.7, D=.8, R=.5),                          # syncopated groove, feel-good
    "hip hop": _w(E=.2, D=.5, R=.3, BPM=-.3),                    # 85-100 BPM, beat-driven
    "jazz": _w(E=-.2, D=-.1, R=.6),                              # swing, improvised rhythm
    "classical": _w(E=-.3, D=-.8, P=-.8),                        # no beat to dance or pump to
    "piano": _w(E=-.5, D=-.5, T=-.5, B=.1),                      # one instrument, sparse
    "acoustic": _w(E=-.3, D=-.3, T=-.4, B=.1),                   # unplugged, sparse
    "folk": _w(E=-.3, V=.2, D=-.2, T=-.3),                       # acoustic songs
    "metal": _w(E=.9, V=-.5, B=.3, T=.8, BPM=.4),                # distorted, loud, dense
    "punk": _w(E=.9, V=-.1, BPM=.7, T=.6),                       # fast, loud, raw
    "rock": _w(E=.5, T=.4),                                      # band, distorted guitars
    "post rock": _w(E=.1, T=.5, D=-.4),                          # crescendos, layered guitars
    "pop": _w(V=.5, D=.4, B=.3),                                 # bright, catchy, major
    "soul": _w(V=.3, D=.4, E=-.1),                               # warm grooves
    "r and b": _w(V=.2, D=.5, E=-.1),                            # smooth, groove-led
    "reggae": _w(E=-.1, V=.4, D=.5, BPM=-.5),                    # offbeat skank, laid back
    "soundtrack": _w(D=-.5, T=.3),                               # scored, rarely beat-led
    # --- moods and descriptions -------------------------------------------------------------
    "dark": _w(V=-.8, B=-.5),                                    # minor, low-passed, ominous
    "melancholic": _w(V=-.8, E=-.3),
    "sad": _w(V=-1., E=-.4),
    "happy": _w(V=1., E=.3, B=.3),
    "uplifting": _w(V=.8, E=.4, B=.3),
    "euphoric": _w(V=.8, E=.7, B=.3),
    "energetic": _w(E=1., BPM=.4),
    "aggressive": _w(E=.9, V=-.6, T=.4),
    "angry": _w(E=.8, V=-.8),
    "intense": _w(E=.8, T=.4),
    "chill": _w(E=-.7, V=.3, BPM=-.4),
    "mellow": _w(E=-.7, V=.2, B=-.2),
    "relaxing": _w(E=-.8, V=.3, BPM=-.4),
    "calm": _w(E=-.8, BPM=-.3),
    "peaceful": _w(E=-.8, V=.4),
    "dreamy": _w(E=-.5, V=.2, T=.3),
    "atmospheric": _w(E=-.3, D=-.3, T=.3),                       # pads and space over beats
    "hypnotic": _w(E=.1, D=.4, R=-.4),                           # repetitive, locked groove
    "repetitive": _w(D=.2, R=-.5),
    "groovy": _w(V=.4, D=.9, R=.3),
    "funky": _w(V=.5, D=.8, R=.4),
    "danceable": _w(D=1., P=.3),
    "driving": _w(E=.6, D=.5, P=.3, BPM=.3),
    "pumping": _w(E=.5, D=.5, P=.9),                             # sidechain pump is the word
    "rolling": _w(E=.3, D=.5, P=.3),
    "minimal": _w(T=-.8, R=-.2),
    "sparse": _w(T=-.8),
    "lush": _w(T=.7),
    "heavy": _w(E=.6, B=-.2, T=.5),
    "harsh": _w(V=-.4, B=.6, T=.6),
    "distorted": _w(E=.4, B=.3, T=.6),
    "epic": _w(E=.6, V=.2, T=.6),
    "cinematic": _w(E=.1, D=-.5, T=.5),
    "bright": _w(V=.3, B=.9),
    "warm": _w(V=.3, B=-.3),
    "cold": _w(V=-.5),                                           # sterile mood; says nothing of timbre
    "deep": _w(B=-.4),                                           # low-centred, filtered
    "fast": _w(E=.4, BPM=.9),
    "slow": _w(E=-.4, BPM=-.9),
    "upbeat": _w(E=.5, V=.6, BPM=.4),
    "complex": _w(R=.6),
    "polyrhythmic": _w(R=.9),
    "melodic": _w(B=.1, M=.4),                                   # clear tonal centre
    "atonal": _w(M=-.8),                                         # no key to be confident about
    "beautiful": _w(E=-.2, V=.4, B=.2),
    "gloomy": _w(V=-.8, E=-.3),
    "moody": _w(V=-.5),
    "haunting": _w(V=-.6, E=-.2),
    "ethereal": _w(E=-.4, B=.3, T=.3),                           # airy, high pads
    "sleep": _w(E=-1., D=-.8, BPM=-.6),
    "mono": _w(S=-.6),                                           # the only tags that speak of width
    "wide": _w(S=.6),
    # --- neutral: common tags that say nothing about any axis --------------------------------
    "electronic": {}, "electronica": {}, "dance": _w(D=.8), "instrumental": {},
    "seen live": {}, "favorites": {}, "favourite": {}, "albums i own": {}, "love": {},
    "female vocalists": {}, "male vocalists": {}, "vocal": {}, "underground": {},
    "german": {}, "british": {}, "american": {}, "french": {}, "uk": {}, "berlin": {},
    "80s": {}, "90s": {}, "00s": {}, "2010s": {}, "classic": {}, "old school": {}, "remix": {},
    "cover": {},
}

# Spellings that normalisation cannot reach (letters differ, not just punctuation or spaces).
ALIASES: dict[str, str] = {
    "dnb": "drum and bass", "d and b": "drum and bass", "drum bass": "drum and bass",
    "drum and base": "drum and bass",
    "psy trance": "psytrance", "psychedelic trance": "psytrance", "psy": "psytrance",
    "intelligent dance music": "idm", "ukg": "uk garage", "2 step": "uk garage",
    "r b": "r and b", "rnb": "r and b", "rhythm and blues": "r and b",
    "melancholy": "melancholic", "chill out": "chillout", "lofi": "lo fi",
    "electronic body music": "ebm", "favourites": "favorites", "favorite": "favourite",
    "electronic music": "electronic", "hard core": "hardcore", "downbeat": "downtempo",
    "goa": "psytrance", "breaks": "breakbeat", "meditative": "relaxing",
}
