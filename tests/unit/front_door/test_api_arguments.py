"""Issue 20: the Python API takes what the CLI takes, typed and ranged the same way. A property
test feeds every public function wrong types and values, one argument at a time, and sees only
`vmafkit.InputError` — never a TypeError, ValueError or AttributeError from deep inside, never a
hang (the old `score(threads=10**6)` ran 10 minutes). Hand cases pin the messages and the ranges,
which are the CLI flags' own (`validation.py`, read by the options there)."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmafkit
from vmafkit import api
from vmafkit.errors import InputError

FUNCTIONS = ("score", "build_corpus", "train_loso", "gate", "write_verdict", "export", "predict", "run")

JUNK = st.one_of(
    st.none(),
    st.binary(max_size=4),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([object(), 1.5j, (1, "a"), b"19,25", "19,25"]),
)


def _required(func, folder) -> dict:
    """Every required argument as a path that does not exist (so a call that gets past the
    argument checks fails on its input, with an InputError too, and does no work)."""
    out = {}
    for name, param in inspect.signature(func).parameters.items():
        if param.default is inspect.Parameter.empty:
            out[name] = str(folder / f"missing-{name}")
    return out


@pytest.mark.parametrize("name", FUNCTIONS)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_wrong_argument_is_an_input_error(name, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a junk relative path lands here, never in the checkout
    func = getattr(vmafkit, name)
    params = list(inspect.signature(func).parameters)
    target = data.draw(st.sampled_from(params), label="argument")
    value = data.draw(JUNK, label="value")
    kwargs = {**_required(func, tmp_path), target: value}
    try:
        func(**kwargs)
    except InputError:
        pass
    else:  # pragma: no cover - the assertion says what got through
        pytest.fail(f"{name}({target}={value!r}) returned instead of raising InputError")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: vmafkit.score(None, "b"), "score(): ref must be a string or a path, got None"),
        (lambda: vmafkit.score(b"a", "b"), "score(): ref must be a string or a path, got b'a'"),
        (lambda: vmafkit.score("a", "b", threads=10**6), "score(): threads must be in [1, 1024], got 1000000"),
        (lambda: vmafkit.score("a", "b", max_frames="3"), "score(): max_frames must be an integer or None, got '3'"),
        (lambda: vmafkit.RawGeometry(fps=0), "RawGeometry(): fps must be in (0, 10000], got 0"),
        (lambda: vmafkit.Grid(cqs="19,25"), "Grid(): cqs must be a list of integers, got '19,25'"),
        (lambda: vmafkit.Training(lr=float("nan")), "Training(): lr must be in (0, 1], got nan"),
        (lambda: vmafkit.Training(epochs=0), "Training(): epochs must be in [1, 100000], got 0"),
        (lambda: vmafkit.score("a", "b", scoring="psnr"), "score(): scoring must be Scoring, got 'psnr'"),
        (lambda: vmafkit.predict("m", coverage=1.0), "predict(): coverage must be in (0, 1), got 1.0"),
        (lambda: vmafkit.run("o", demo="yes"), "run(): demo must be True/False, got 'yes'"),
        (lambda: vmafkit.run("o", max_frames=0), "run(): max_frames must be in [1, ∞), got 0"),
        (lambda: vmafkit.score("a", "b", nope=1), "score(): got an unexpected keyword argument 'nope'"),
        (lambda: vmafkit.score("a"), "score(): missing a required argument: 'dis'"),
    ],
)
def test_the_messages_name_the_function_the_argument_and_what_it_takes(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert str(err.value) == message


OPTION_OBJECTS = ("RawGeometry", "Scoring", "Grid", "Training", "DatasetScoring")


@pytest.mark.parametrize("name", OPTION_OBJECTS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_an_option_object_takes_a_value_or_raises_input_error(name, data):
    """Any value for any field: the object is made (a value that is valid), or one InputError
    naming the class; never a TypeError, ValueError or a half-checked object."""
    import dataclasses

    cls = getattr(vmafkit, name)
    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]), label="field")
    value = data.draw(JUNK, label="value")
    try:
        made = cls(**{field: value})
    except InputError as exc:
        assert str(exc).startswith(f"{name}(): ") or "unknown" in str(exc) or "--" in str(exc), str(exc)
    else:
        assert dataclasses.replace(made) == made  # checks again, and passes again


def test_the_api_ranges_are_the_cli_flags_ranges():
    """One validation: the API's ranges are the numbers the CLI's options are built from."""
    from vmafkit import validation as V

    assert V.API_RANGES["threads"][:2] == V.JOBS_RANGE == (1, 1024)
    assert V.API_RANGES["epochs"][:2] == V.EPOCHS_RANGE and V.API_RANGES["batch_size"][:2] == V.BATCH_SIZE_RANGE
    assert V.API_RANGES["lr"] == (0.0, V.LR_MAX, True, False)
    assert V.API_RANGES["coverage"] == (0.0, 1.0, True, True)
    assert api.score.__wrapped__.__name__ == "score"  # the checked wrapper keeps the function's identity
