"""The replay TUI: the live app on a ReplayBackend, with a position bar and player keys.

It uses the app's hooks (tsmon.app): ``manual`` sampling driven by a timer that follows the
recorded intervals and the speed, ``EXTRA_KEYS`` for the player keys, ``set_status_extra`` for
the header, and a sampler that can jump (``ReplaySampler``) so a jump runs on the sampler's
worker thread like any refresh.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Static

from tsmon_core.backends.replay import ReplayBackend
from tsmon_core.sampler import Sampler, Snapshot

from ..app import TsmonApp
from ..keys import KeySpec
from ..messages import SampleReady
from .record import recorder_factory
from .replay import SPEEDS, parse_when, resolve_when

__all__ = ["GotoScreen", "ReplayApp", "ReplayBar", "ReplaySampler"]

#: Forward jumps up to this many frames play the frames between (accumulated figures go on).
_PLAY_THROUGH = 10


class ReplaySampler(Sampler):
    """A sampler over a replay that can jump.

    Each poll carries out the oldest queued move: ``advance()`` (the next frame, also what a
    poll does with nothing queued) or ``jump(n)`` (frame ``n``). Far jumps start afresh from
    the frame before ``n``, so rates cover the recorded interval as they did live; short
    forward jumps play the frames between, so accumulated figures go on.
    """

    def __init__(self, backend: ReplayBackend) -> None:
        super().__init__(backend, listen=False)
        self.replay = backend
        self._moves: deque[int | None] = deque()
        self._moves_lock = threading.Lock()

    def jump(self, number: int) -> None:
        """Queue a move to frame ``number``."""
        with self._moves_lock:
            self._moves.append(number)

    def advance(self) -> None:
        """Queue a move to the next frame."""
        with self._moves_lock:
            self._moves.append(None)

    def poll(self) -> Snapshot:
        """Carry out the oldest queued move (the next frame when none is queued)."""
        with self._moves_lock:
            target = self._moves.popleft() if self._moves else None
        if target is None:
            return super().poll()
        replay = self.replay
        here = replay.position
        if 0 <= here < target <= here + _PLAY_THROUGH:
            snapshot = super().poll()
            while replay.position < target and not replay.at_end:
                snapshot = super().poll()
            return snapshot
        Sampler.__init__(self, replay, listen=False)  # forget what came before
        start = replay.seek(max(target - 1, 0))
        snapshot = super().poll()
        if start < target and not replay.at_end:
            snapshot = super().poll()
        return snapshot


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ReplayBar(Static):
    """The position bar: play state, speed, frame, time into the recording, wall time, gauge."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; padding: 0 1; background: $boost; }
    """

    def show(self, state: dict[str, Any]) -> None:
        """Redraw from the player state."""
        width = max(10, self.size.width - 2)
        text = Text()
        text.append("❚❚ " if state["paused"] else "▶ ", style="bold")
        text.append(f"x{state['speed']:g}  ")
        text.append(f"frame {state['frame'] + 1}/{state['count']}  ")
        text.append(f"{_clock(state['elapsed'])} / {_clock(state['duration'])}  ")
        if state["wall"] is not None:
            text.append(time.strftime("%Y-%m-%d %H:%M:%S  ", time.localtime(state["wall"])))
        if state["end"]:
            text.append("END  ", style="bold")
        room = width - len(text.plain) - 2
        if room >= 8:
            done = 0 if state["count"] <= 1 else state["frame"] / (state["count"] - 1)
            filled = round(done * room)
            text.append("[")
            text.append("━" * filled, style="bold")
            text.append("─" * (room - filled))
            text.append("]")
        self.update(text)


class GotoScreen(ModalScreen[str | None]):
    """Ask where to go: a time into the recording, a clock time or a frame."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical {
        width: 72; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Go to: 90, 1m30s, -30 (from the end), 14:05:00 or #120 (a frame)")
            yield Input(placeholder="time or #frame", id="goto")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReplayApp(TsmonApp):
    """The TUI on a recording: space pauses, [ ] { } step, g jumps, < > change the speed."""

    TITLE = "tsmon replay"
    EXTRA_KEYS: ClassVar[tuple[KeySpec, ...]] = (
        KeySpec("left_square_bracket", "step(-1)", "Replay: one frame back", "["),
        KeySpec("right_square_bracket", "step(1)", "Replay: one frame forward", "]"),
        KeySpec("left_curly_bracket", "step(-10)", "Replay: ten frames back", "{"),
        KeySpec("right_curly_bracket", "step(10)", "Replay: ten frames forward", "}"),
        KeySpec("g", "goto", "Replay: go to a time or a frame", "g", "Go to"),
        KeySpec("less_than_sign", "speed(-1)", "Replay: slower (down to x0.25)", "<"),
        KeySpec("greater_than_sign", "speed(1)", "Replay: faster (up to x16)", ">"),
    )

    def __init__(
        self,
        backend: ReplayBackend,
        *,
        start: int = 0,
        speed: float = 1.0,
        paused: bool = False,
        **options: Any,
    ) -> None:
        self.replay = backend
        sampler = ReplaySampler(backend)
        if start:
            sampler.jump(start)
        self.recorded_interval = backend.header.interval or 1.0
        options.setdefault("recorder_factory", recorder_factory(backend, self.recorded_interval))
        super().__init__(
            backend,
            sampler,
            interval=self.recorded_interval / speed,
            manual=True,
            **options,
        )
        self.replay_sampler = sampler
        self.speed = speed
        self.paused = paused
        self.shown = -1  # the frame on screen
        self.goal = start  # the frame the latest request will show
        self.frame_count = backend.frame_count
        self._timer: Timer | None = None
        self._bar: ReplayBar | None = None
        self._exit_requested = False

    # --- set-up ---------------------------------------------------------------------------

    def main_ready(self) -> None:
        bar = ReplayBar(id="replay-bar")
        self._bar = bar
        main = self.main
        main.mount(bar, after=main.query_one("#summary"))
        super().main_ready()
        problems = self.replay.problems()
        if problems:
            self.notify("; ".join(problems), title="recording", severity="warning", timeout=10)
        self._show_position()

    # --- playing ----------------------------------------------------------------------------

    def _number_of(self, snapshot: Snapshot) -> int:
        reader = self.replay.reader
        times = reader.times()[0]
        i = bisect.bisect_left(times, snapshot.t_mono)
        numbers = reader.frame_numbers()
        if i < len(times) and times[i] == snapshot.t_mono:
            return int(numbers[i])
        return self.replay.position

    def on_sample_ready(self, message: SampleReady) -> None:
        if not self.screen_stack or self._exit_requested:
            return  # a refresh that arrives while the app closes
        super().on_sample_ready(message)
        self.shown = self._number_of(message.snapshot)
        if self.shown >= self.goal:
            self.goal = self.shown
        if self.shown >= self.frame_count - 1 and not self.paused:
            TsmonApp.pause(self, True)
            self.notify("end of the recording (space replays it from the start)", timeout=4)
        self._show_position()
        self._schedule()

    def _schedule(self) -> None:
        """Ask for the next frame after the recorded interval, divided by the speed."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.paused or self.goal >= self.frame_count - 1:
            return
        gap = self.replay.interval_after(self.goal)
        delay = (gap if gap and gap > 0 else self.recorded_interval) / self.speed
        self._timer = self.set_timer(min(max(delay, 0.02), 120.0), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.paused or self.goal >= self.frame_count - 1:
            return
        self._go(self.goal + 1)

    def _go(self, number: int) -> None:
        """Show frame ``number`` after the moves already asked for (clamped to the recording)."""
        number = max(0, min(number, self.frame_count - 1))
        if number == self.goal:
            return
        if number == self.goal + 1:
            self.replay_sampler.advance()
        else:
            self.replay_sampler.jump(number)
        self.goal = number
        self.request_sample()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._exit_requested = True
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        super().exit(*args, **kwargs)

    def pause(self, paused: bool) -> None:
        if not paused and self.shown >= self.frame_count - 1:
            self._go(0)  # at the end, play means from the start
        super().pause(paused)
        self._show_position()
        self._schedule()

    def action_step(self, frames: int) -> None:
        """Step back or forward by ``frames`` (stepping pauses the replay)."""
        if not self.paused:
            self.pause(True)
        self._go(self.goal + frames)

    def action_speed(self, step: int) -> None:
        """The next speed up or down the list x0.25 ... x16."""
        if step > 0:
            faster = [s for s in SPEEDS if s > self.speed + 1e-9]
            self.speed = faster[0] if faster else SPEEDS[-1]
        else:
            slower = [s for s in SPEEDS if s < self.speed - 1e-9]
            self.speed = slower[-1] if slower else SPEEDS[0]
        self.set_refresh_interval(self.recorded_interval / self.speed)
        self.notify(f"speed x{self.speed:g}", timeout=1.5)
        self._show_position()
        self._schedule()

    def action_interval(self, step: int) -> None:
        """+ and - change the speed of a replay (there is no refresh interval to change)."""
        self.action_speed(step)

    def action_goto(self) -> None:
        def answer(text: str | None) -> None:
            if text:
                self.go_to(text)

        self.push_screen(GotoScreen(), answer)

    def go_to(self, text: str) -> bool:
        """Jump to a moment written as ``g`` accepts it; False (and a notice) when it is not one."""
        try:
            number = resolve_when(self.replay, parse_when(text))
        except ValueError as exc:
            self.notify(str(exc), title="go to", severity="warning", timeout=6)
            return False
        self._go(number)
        return True

    def action_delayacct(self) -> None:
        self.notify("a replay shows what was recorded: delay accounting cannot change here")

    # --- the position bar --------------------------------------------------------------------

    def player_state(self) -> dict[str, Any]:
        """What the position bar shows."""
        frame = max(self.shown, 0)
        times = self.replay.frame_time(frame)
        return {
            "paused": self.paused,
            "speed": self.speed,
            "frame": frame,
            "count": self.frame_count,
            "elapsed": self.replay.elapsed(frame),
            "duration": self.replay.duration,
            "wall": times[1] if times else None,
            "end": self.shown >= self.frame_count - 1,
        }

    def _show_position(self) -> None:
        state = self.player_state()
        mark = "PAUSED" if state["paused"] else "▶"
        self.set_status_extra(
            f"REPLAY {mark} x{state['speed']:g} · frame {state['frame'] + 1}/{state['count']}"
        )
        if self._bar is not None:
            self._bar.show(state)
