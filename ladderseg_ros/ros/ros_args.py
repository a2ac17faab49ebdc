"""The node's ``--ros-args`` checked before ``rclpy.init`` parses them.

rcl refuses a missing or malformed ``--params-file`` and a remap rule naming an invalid topic
with an ``RCLError`` traceback that names a C source line; ``ros_arguments_problem`` says the
same in one line naming the file (with the YAML line and column) or the rule and the name,
and ``rcl_error_line`` turns whatever else rcl refuses into one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ladderseg_ros.fileio import InputFileError, one_line, read_text

PARAMS_KEY = "ros__parameters"
_PARAMS_FILE = "--params-file"
_REMAP = ("-r", "--remap")
_NODE_RULES = ("__node", "__name")
_NAMESPACE_RULE = "__ns"


def ros_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments inside each ``--ros-args ... [--]`` section of ``argv``."""
    out: list[str] = []
    inside = False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--" and inside:
            inside = False
        elif inside:
            out.append(arg)
    return out


def ros_arguments_problem(argv: Sequence[str]) -> str | None:
    """One line saying what is wrong with ``argv``'s ROS arguments, else None.

    Checks every ``--params-file FILE`` (``params_file_problem``) and every ``-r``/``--remap``
    rule (``remap_problem``).

    Args:
        argv: the process arguments (``sys.argv``) as ``rclpy.init`` receives them.
    """
    ros = ros_arguments(argv)
    for i, arg in enumerate(ros):
        value = ros[i + 1] if i + 1 < len(ros) else None
        if arg == _PARAMS_FILE:
            if value is None:
                return f"{_PARAMS_FILE} needs a file"
            problem = params_file_problem(Path(value))
        elif arg in _REMAP:
            if value is None:
                return f"{arg} needs a rule FROM:=TO"
            problem = remap_problem(value)
        else:
            continue
        if problem is not None:
            return problem
    return None


def params_file_problem(path: Path) -> str | None:
    """One line naming ``path`` when rcl could not read it as a parameters file, else None.

    A parameters file is YAML: node names (``/**`` for every node, namespaces as nested keys)
    each holding a ``ros__parameters`` mapping of parameter names to values.
    """
    import yaml

    try:
        text = read_text(path, "parameters file")
    except InputFileError as exc:
        return str(exc)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return f"parameters file {path} is not valid YAML: {one_line(exc)}"
    if doc is None:
        return f"parameters file {path} is empty (expected node_name: ros__parameters: ...)"
    problem = _node_entries_problem(doc, "")
    return None if problem is None else f"parameters file {path}: {problem}"


def _node_entries_problem(doc: object, where: str) -> str | None:
    """What is wrong with a mapping of node names (or namespaces) to ros__parameters."""
    if not isinstance(doc, dict) or not doc:
        shown = repr(doc) if len(repr(doc)) <= 40 else type(doc).__name__
        return (
            f"{where or 'the top level'} is {shown}, expected a mapping "
            f"node_name: {PARAMS_KEY}: {{name: value}}"
        )
    for key, value in doc.items():
        here = f"{where}{key}"
        if key == PARAMS_KEY:
            if not isinstance(value, dict):
                return f"{here} is {value!r}, expected a mapping of parameter names to values"
            continue
        if not isinstance(value, dict):
            return (
                f"{here!r} is {value!r}: parameters go under {PARAMS_KEY} "
                f"(node_name: {PARAMS_KEY}: {{name: value}})"
            )
        problem = _node_entries_problem(value, f"{here}/")
        if problem is not None:
            return problem
    return None


def remap_problem(rule: str) -> str | None:
    """One line naming ``rule`` and the name at fault when rcl would refuse it, else None.

    Rules are ``[node:]FROM:=TO`` with topic or service names (validated as rcl validates
    them: no spaces, ...), ``__node:=NAME`` and ``__ns:=NAMESPACE``.
    """
    from rclpy.exceptions import NameValidationException
    from rclpy.validate_namespace import validate_namespace
    from rclpy.validate_node_name import validate_node_name
    from rclpy.validate_topic_name import validate_topic_name

    source, sep, target = rule.partition(":=")
    if not sep or not source or not target:
        return f"remap rule {rule!r}: expected FROM:=TO (e.g. left/image_rect:=/camera/left)"
    if ":" in source:  # node-specific: node:from:=to
        node, _, source = source.rpartition(":")
        names = [(validate_node_name, node), (validate_topic_name, source)]
    else:
        names = []
    if source in _NODE_RULES:
        names.append((validate_node_name, target))
    elif source == _NAMESPACE_RULE:
        names.append((validate_namespace, target))
    else:
        names += [(validate_topic_name, source), (validate_topic_name, target)]
    for validate, name in names:
        try:
            validate(name)
        except NameValidationException as exc:
            return f"remap rule {rule!r}: {_name_error(exc, name)}"
    return None


def topic_name_problem(name: str) -> str | None:
    """One clause saying why rcl refuses ``name`` as a topic name (a space, ...), else None."""
    from rclpy.exceptions import NameValidationException
    from rclpy.validate_topic_name import validate_topic_name

    try:
        validate_topic_name(name)
    except NameValidationException as exc:
        return _name_error(exc, name)
    return None


def _name_error(exc: Exception, name: str) -> str:
    """One clause of rclpy's three-line name error (message, name, caret)."""
    lines = str(exc).splitlines()
    message = lines[0].rstrip(":") if lines else type(exc).__name__
    caret = lines[2].find("^") - 3 if len(lines) > 2 else -1
    where = f" (character {caret + 1}: {name[caret]!r})" if 0 <= caret < len(name) else ""
    return f"{message} in {name!r}{where}"


def rcl_error_line(exc: Exception) -> str:
    """An ``RCLError`` of ``rclpy.init`` as one line, without rcl's C source locations.

    ``UnknownROSArgsError`` (its message is the list of arguments) is named as such.
    """
    if type(exc).__name__ == "UnknownROSArgsError":
        return f"unknown ROS arguments {exc} (see ros2 run ... --ros-args --help)"
    text = one_line(exc).removeprefix("failed to initialize rcl: ")
    return text.split(", at /")[0]
