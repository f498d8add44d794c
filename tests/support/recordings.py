"""Runs recorded on the twin (snapshots written by dogbreeds_cli.snapshot.collect, in recordings/), for the views."""

from pathlib import Path

from dogbreeds_cli.snapshot import RunSnapshot

RECORDINGS = Path(__file__).with_name("recordings")


def recorded(name: str) -> RunSnapshot:
    return RunSnapshot.from_json((RECORDINGS / f"{name}.json").read_text())
