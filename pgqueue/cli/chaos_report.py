"""What `pgqueue chaos` proves, and the table that shows it: every command
completed exactly once, none lost or left leased, every re-execution explained
by a fault the run injected."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table


@dataclass
@dataclass
class Report:
    commands: int
    seconds: float
    workers_started: int
    kills: int
    terminations: int
    stops: int
    restarts: int
    completed: int
    lost: int
    completed_twice: int
    never_executed: int
    left_leased: int
    re_executed_commands: int
    re_executions: int
    explained_by_kill: int
    explained_by_connection: int
    unexplained: int

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.completed_twice == 0
            and self.never_executed == 0
            and self.left_leased == 0
            and self.unexplained == 0
            and self.completed == self.commands
        )


def render(report: Report) -> Table:
    table = Table(title="pgqueue chaos", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("commands", report.commands),
        ("seconds", report.seconds),
        ("worker processes started", report.workers_started),
        ("workers SIGKILLed", report.kills),
        ("backends terminated", report.terminations),
        ("backends stopped (SIGSTOP)", report.stops),
        ("server restarts", report.restarts),
        ("completed", report.completed),
        ("lost", report.lost),
        ("completed twice", report.completed_twice),
        ("never executed", report.never_executed),
        ("left CLAIMED/RUNNING", report.left_leased),
        ("re-executions", report.re_executions),
        ("  after a kill", report.explained_by_kill),
        ("  after a cut, stopped or restarted connection", report.explained_by_connection),
        ("  unexplained", report.unexplained),
    ]
    for what, value in rows:
        table.add_row(what, str(value))
    return table
