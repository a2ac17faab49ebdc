"""Node parameters on our command lines: ``NAME:=VALUE`` as ROS users type it, checked early."""

from __future__ import annotations

import argparse

import pytest

from ladderseg_ros.cli.args import format_node_param, parse_node_param
from ladderseg_ros.cli.main import main


def test_name_colon_equals_value_is_typed_by_the_node_table() -> None:
    assert parse_node_param("sgbm_num_disparities:=64") == ("sgbm_num_disparities", 64)
    assert parse_node_param("approximate_sync:=true") == ("approximate_sync", True)
    assert parse_node_param("overlay_alpha:=0.25") == ("overlay_alpha", 0.25)
    assert parse_node_param("backend:=torch") == ("backend", "torch")


def test_values_round_trip_to_what_ros_args_reads() -> None:
    for text in ("approximate_sync:=false", "sgbm_num_disparities:=64", "backend:=torch"):
        assert format_node_param(*parse_node_param(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sgbm_num_disparities=64", "written NAME:=VALUE.*sgbm_num_disparities:=64"),
        ("sgbm_num_disparities", "written NAME:=VALUE"),
        ("nope:=1", "'nope' is not a node parameter"),
        ("sgbm_num_disparities:=60", "sgbm_num_disparities"),
        ("approximate_sync:=yes", "expected true or false"),
    ],
)
def test_bad_parameters_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message) as caught:
        parse_node_param(text)
    assert len(str(caught.value).splitlines()) == 1


def test_the_demo_refuses_the_old_syntax_before_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--param", "backend=torch"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "written NAME:=VALUE" in err
    assert "backend:=torch" in err
