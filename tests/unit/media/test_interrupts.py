"""Ctrl-C reaches vmafkit's ffmpeg children too: a child that fails after the user pressed Ctrl-C is
the interruption (KeyboardInterrupt, exit 130 and "interrupted" on the command line), not a failed
encode or score (exit 2 naming the clip), whichever thread waited for it. Real ffmpeg; the Ctrl-C
is the flag the CLI's SIGINT handler sets (`errors.watch_interrupts`)."""

from __future__ import annotations

import signal

import pytest

from vmafkit import errors
from vmafkit.media import ffmpeg as ffm

FAILING = ["-hide_banner", "-nostdin", "-loglevel", "error", "-i", "/nonexistent/clip.y4m", "-f", "null", "-"]


@pytest.fixture
def ff_path():
    return ffm.find_ffmpeg().path


@pytest.fixture(autouse=True)
def no_interrupt_left():
    errors.INTERRUPTED.clear()
    yield
    errors.INTERRUPTED.clear()


def test_a_failed_child_is_a_failure_without_ctrl_c(ff_path):
    result = ffm.run_ffmpeg([ff_path, *FAILING])
    assert result.returncode != 0 and "nonexistent" in result.stderr


def test_a_failed_child_after_ctrl_c_is_the_interruption(ff_path):
    errors.INTERRUPTED.set()
    with pytest.raises(KeyboardInterrupt):
        ffm.run_ffmpeg([ff_path, *FAILING])


def test_a_child_that_succeeds_after_ctrl_c_is_kept(ff_path):
    """Only a failure is read as the interruption: finished work stays finished."""
    errors.INTERRUPTED.set()
    assert ffm.run_ffmpeg([ff_path, "-hide_banner", "-version"]).returncode == 0


def test_the_handler_records_ctrl_c_and_raises_as_python_does():
    previous = signal.getsignal(signal.SIGINT)
    try:
        errors.INTERRUPTED.set()
        errors.watch_interrupts()
        assert not errors.INTERRUPTED.is_set()  # each command starts from no Ctrl-C
        assert signal.getsignal(signal.SIGINT) is errors._note_interrupt
        with pytest.raises(KeyboardInterrupt):
            errors._note_interrupt(signal.SIGINT, None)
        assert errors.INTERRUPTED.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)
