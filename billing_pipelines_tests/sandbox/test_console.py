"""What `make demo` shows: its own lines on the terminal, a progress bar drawn in place on a
terminal only, and everything the libraries and subprocesses print in the log file."""

import io
import subprocess
import sys

import dagster as dg

from billing_pipelines.sandbox.console import RunProgress, Stage, logging_to


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_everything_but_the_demos_own_lines_goes_to_the_log(tmp_path, capfd):
    log = tmp_path / "demo.log"
    with logging_to(log) as console:
        print("a library's line")
        print("a warning", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "print('a subprocess line')"], check=True)
        console.line("the demo's own line")
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("the demo's own line\n", "")
    assert log.read_text().splitlines() == ["a library's line", "a warning", "a subprocess line"]
    print("after the block")  # the terminal is given back
    assert capfd.readouterr().out == "after the block\n"


def test_a_stage_draws_its_bar_in_place_on_a_terminal_and_ends_on_one_line():
    terminal = Terminal()
    stage = Stage(terminal, "[4/5] Migration … ")
    stage.bar(10, 40)
    stage.done("one run")
    text = terminal.getvalue()
    assert "\r[4/5] Migration … [#######.......................] 10/40" in text
    assert text.endswith("\r\033[K[4/5] Migration … one run (0.0 s)\n")


def test_a_stage_off_a_terminal_prints_only_its_finished_line():
    log = io.StringIO()
    stage = Stage(log, "[4/5] Migration … ")
    stage.bar(10, 40)
    stage.done("one run")
    assert log.getvalue() == "[4/5] Migration … one run (0.0 s)\n"


def test_a_runs_progress_counts_assets_materialized_of_those_planned():
    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-09-01"))
    def daily() -> None: ...

    @dg.asset
    def whole() -> None: ...

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [daily, whole],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2026-09-02", "dagster/asset_partition_range_end": "2026-09-04"},
    )
    progress = RunProgress(instance, result.run_id)
    assert progress.share() == (2, 2)  # by asset: three days of `daily`, `whole` once (planned per day)
    assert progress.share() == (2, 2)  # read from the new events only: none since
