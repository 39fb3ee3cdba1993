"""Golden outputs of the ORIGINAL musicnn (TensorFlow + librosa) for the PyTorch port's tests.

    python benchmarks/musicnn_golden.py [--wheel musicnn-0.1.0-py3-none-any.whl]
                                        [--out tests/fixtures/musicnn_golden.json]

Needs a scratch environment OUTSIDE the project venv (the package and its tests never import
TensorFlow or librosa), with NumPy 1.x:

    python3.11 -m venv /tmp/tfenv1
    /tmp/tfenv1/bin/pip install tensorflow-cpu==2.15.1 numpy==1.26.4 librosa==0.10.2.post1 soundfile
    /tmp/tfenv1/bin/python benchmarks/musicnn_golden.py

Why NumPy 1.x: the original computes ``np.log10(10000 * S + 1)`` on a float16 ``S``. Under NumPy 1
value-based casting that product is float32 (as when the models were trained and released);
under NumPy 2 (NEP 50) it stays float16 and overflows to inf wherever the mel power exceeds
~6.55 -- i.e. on most frames of ordinary music with a bass line -- and TensorFlow then returns
the same constant tags for every such patch. TF 2.15 is the last release with Keras 2 built in
(so `tf.compat.v1.layers` works without tf-keras) that runs on NumPy 1.26. The musicnn wheel is
fetched with `pip download musicnn==0.1.0 --no-deps` (or given with --wheel) and only put on
sys.path: its pinned dependencies do not install on Python 3.11, and none are needed beyond TF
and librosa.

What it does, for the deterministic 10 s, 16 kHz test signal of `make_test_signal` (drums,
bass, chords; it is written to a float WAV so `librosa.load(sr=16000)` reads it back bit-exact
and no resampling is involved):

1. the original `musicnn.extractor.batch_data` computes the log-mel patches, with one change:
   `librosa.feature.melspectrogram` gets pad_mode="reflect", librosa's default when musicnn was
   released (librosa >= 0.10 pads with zeros);
2. for MSD_musicnn and MTT_musicnn the original `musicnn.models.define_model` graph is built
   in `tf.compat.v1` graph mode, the checkpoint restored (strictly), and the per-patch tag
   probabilities and penultimate activations are recorded;
3. the original `musicnn.extractor.extractor(...)` is also run end to end and must agree with
   step 2 (this guards against its silent `except:` around `saver.restore`; its feature dict
   is only compared on the first patch, as a bug in its loop repeats the first batch's mid-end
   and penultimate features for all later batches);
4. a few frames of the mel power and log-mel are recorded for the front-end parity test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "musicnn_golden.json"
SR = 16000
SEED = 2019
SECONDS = 10.0
MEL_FRAMES = [0, 1, 2, 100, 313, 500, 624, 625]  # first/last frames exercise the edge padding
MODELS = {"msd-musicnn": "MSD_musicnn", "mtt-musicnn": "MTT_musicnn"}


def make_test_signal(seconds: float = SECONDS, seed: int = SEED, sr: int = SR) -> np.ndarray:
    """A deterministic drums + bass + chords excerpt at 120 BPM, mono float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    out = np.zeros(n)

    def place(event: np.ndarray, start_s: float, gain: float) -> None:
        i = int(round(start_s * sr))
        if i < n:
            m = min(event.size, n - i)
            out[i:i + m] += gain * event[:m]

    tk = np.arange(int(0.4 * sr)) / sr
    sweep = 50 * tk + 100 * 0.04 * (1 - np.exp(-tk / 0.04))  # 150 Hz falling to 50 Hz
    kick = np.sin(2 * np.pi * sweep) * np.exp(-tk / 0.12)
    ts = np.arange(int(0.25 * sr)) / sr
    snare = (rng.standard_normal(ts.size) * 0.7 + np.sin(2 * np.pi * 190 * ts)) * np.exp(-ts / 0.07)
    th = np.arange(int(0.06 * sr)) / sr
    beat = 0.5  # 120 BPM
    for k in range(int(seconds / beat) + 1):
        place(kick, k * beat, 0.9)
        if k % 2 == 1:
            place(snare, k * beat, 0.45)
        for half in (0.0, 0.5):
            hat = np.diff(rng.standard_normal(th.size + 1)) * np.exp(-th / 0.015)
            place(hat, (k + half) * beat, 0.12)

    # i-vi-IV-V in C, one chord per two beats; sawtooth-like voices plus a bass root
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    chord_len = 2 * beat
    env_t = np.arange(int(chord_len * sr)) / sr
    env = np.minimum(1.0, env_t / 0.02) * np.exp(-env_t / 0.8)
    for c in range(int(np.ceil(seconds / chord_len))):
        notes = chords[c % len(chords)]
        voice = np.zeros(env_t.size)
        for midi in notes:
            f0 = 440.0 * 2 ** ((midi - 69) / 12)
            phase = rng.uniform(0, 2 * np.pi)
            for h in range(1, 7):
                voice += np.sin(2 * np.pi * h * f0 * env_t + h * phase) / h
        bass_f0 = 440.0 * 2 ** ((notes[0] - 12 - 69) / 12)
        bass = np.sin(2 * np.pi * bass_f0 * env_t) + 0.3 * np.sin(4 * np.pi * bass_f0 * env_t)
        place(voice * env, c * chord_len, 0.12)
        place(bass * env, c * chord_len, 0.35)

    out += 1e-3 * rng.standard_normal(n)  # a little noise floor: no exact zeros
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def _fetch_wheel(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "musicnn==0.1.0", "--no-deps",
                    "-d", str(tmp)], check=True)
    return next(tmp.glob("musicnn-0.1.0-*.whl"))


def _round(values: np.ndarray, digits: int = 8) -> list:
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[object])(
        np.asarray(values, dtype=np.float64)).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="musicnn-0.1.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    if int(np.__version__.split(".")[0]) >= 2:
        sys.exit("run this with NumPy 1.x: under NumPy 2 the original's float16 log overflows "
                 "(see the module docstring)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tmp = Path(tempfile.mkdtemp(prefix="musicnn-golden-"))
    wheel = args.wheel or _fetch_wheel(tmp)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp / "pkg")
    sys.path.insert(0, str(tmp / "pkg"))

    import functools

    import librosa
    import soundfile as sf
    import tensorflow as tf
    from musicnn import configuration as config  # type: ignore[import-not-found]
    from musicnn import extractor, models  # type: ignore[import-not-found]

    librosa.feature.melspectrogram = functools.partial(librosa.feature.melspectrogram,
                                                       pad_mode="reflect")
    signal = make_test_signal()
    wav = tmp / "signal.wav"
    sf.write(wav, signal, SR, subtype="FLOAT")
    loaded, _ = librosa.load(str(wav), sr=SR)
    assert np.array_equal(loaded, signal), "librosa.load must read the test signal back exactly"

    n_frames = librosa.time_to_frames(3, sr=SR, n_fft=config.FFT_SIZE,
                                      hop_length=config.FFT_HOP) + 1
    batch, audio_rep = extractor.batch_data(str(wav), n_frames, n_frames)
    assert np.isfinite(audio_rep).all() and audio_rep.dtype == np.float32
    power = librosa.feature.melspectrogram(y=signal, sr=SR, hop_length=config.FFT_HOP,
                                           n_fft=config.FFT_SIZE, n_mels=config.N_MELS).T
    golden: dict = {
        "generator": "benchmarks/musicnn_golden.py",
        "versions": {"tensorflow": tf.__version__, "librosa": librosa.__version__,
                     "numpy": np.__version__},
        "signal": {"seed": SEED, "seconds": SECONDS, "sample_rate": SR,
                   "first_samples": _round(signal[:8]), "rms": float(np.sqrt(np.mean(
                       signal.astype(np.float64) ** 2)))},
        "mel": {"pad_mode": "reflect", "n_frames": int(audio_rep.shape[0]),
                "frames": MEL_FRAMES, "power": _round(power[MEL_FRAMES]),
                "log": _round(audio_rep[MEL_FRAMES].astype(np.float32)),
                "log_mean": float(audio_rep.astype(np.float64).mean()),
                "max_power": float(power.max())},
        "patch_frames": int(n_frames),
        "models": {},
    }

    for name, tf_name in MODELS.items():
        labels = config.MSD_LABELS if "MSD" in tf_name else config.MTT_LABELS
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outputs = models.define_model(x, is_training, tf_name, len(labels))
            probs = tf.nn.sigmoid(outputs[0])
            penultimate = outputs[-1]
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, str(tmp / "pkg" / "musicnn" / tf_name) + "/")
            taggram, pen = sess.run([probs, penultimate],
                                    feed_dict={x: batch, is_training: False})
        orig_taggram, _, features = extractor.extractor(str(wav), model=tf_name,
                                                        extract_features=True)
        agree = float(np.abs(orig_taggram - taggram).max())
        assert agree < 1e-5, f"{tf_name}: extractor() disagrees with the rebuilt graph ({agree})"
        # only the first row: extractor() repeats the first batch's penultimate for later ones
        assert np.abs(features["penultimate"][0] - pen[0]).max() < 1e-4
        golden["models"][name] = {
            "tf_model": tf_name, "labels": list(labels), "n_patches": int(taggram.shape[0]),
            "taggram": _round(taggram), "penultimate": _round(pen),
            "mean_tags": _round(taggram.mean(axis=0)),
            "extractor_max_abs_diff": agree,
        }
        print(f"{tf_name}: {taggram.shape[0]} patches; top tags:",
              [labels[i] for i in np.argsort(-taggram.mean(axis=0))[:5]])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
