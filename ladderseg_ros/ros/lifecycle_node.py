"""``ladderseg_lifecycle_node``: the ladderseg node as a managed (lifecycle) node.

The managed node of the ROS 2 design article "Managed nodes" (design.ros2.org), with
``rclpy.lifecycle`` (in rclpy since Humble; the same API on Jazzy). The work is the plain
node's: this class only orders ``LadderSegNode``'s set-up steps by transition.

- ``configure``: read and validate the parameters, load the weights, build the backend and run
  blank frames through it (``FrameProcessor.warm_up``: the first real frames are then not
  slow). A failure (missing
  weights, bad parameter, unknown class in the groups file) is logged with its reason, kept
  in ``configure_error``, and the node stays unconfigured, ready for another try.
- ``activate``: publishers, subscriptions, diagnostics and the worker thread.
- ``deactivate``: all of those go; the loaded model stays.
- ``cleanup``: the model is freed.
- ``shutdown``: from any state, whatever is active or loaded is released.

A client's mistake never stops the node: a transition its current state does not allow
(``activate`` while active, an unknown id or label) is refused with ``success: false`` and
one warning naming the transitions allowed; rclpy would raise ``RCLError: Transition is not
registered`` out of the service callback and end the process. A transition callback that
fails unexpectedly is logged with its reason and reported as an error (rclpy then runs
``on_error``, which returns the node to unconfigured).

One worker thread serves every activation: ``deactivate`` returns once no frame of the
ending activation can still be published (a frame still being computed is dropped when it
is done), and ``activate`` never starts a second worker beside one still busy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from lifecycle_msgs.srv import ChangeState

# The names the Humble demos use (lifecycle_py); rclpy.lifecycle exists since Galactic and has
# the same API on Humble and Jazzy.
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State as LifecycleState
from rclpy.lifecycle import TransitionCallbackReturn

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.ros import core_logs
from ladderseg_ros.ros.node import LadderSegNode, spin_node
from ladderseg_ros.ros.params import declare_only, read


class LadderSegLifecycleNode(LadderSegNode, LifecycleNode):
    """The ladderseg node, managed: nothing is loaded before ``configure``.

    Same parameters, topics and diagnostics as ``LadderSegNode``; parameters are declared at
    construction and read at ``configure``.

    Args:
        node_name: ROS node name.
        **kwargs: Passed to ``rclpy.lifecycle.LifecycleNode``.
    """

    def __init__(self, node_name: str = "ladderseg", **kwargs: object) -> None:
        LifecycleNode.__init__(self, node_name, **kwargs)  # not LadderSegNode's: loads nothing
        core_logs.adopt(self.get_logger())
        self._warmup_for = None
        declare_only(self)
        self.params = None  # type: ignore[assignment]  # read at configure
        self.segmenter: Any = None
        self.configure_error = ""
        self._worker = None
        self._active = False
        self.add_on_set_parameters_callback(self._on_set_parameters)
        service = self._service_change_state
        service.callback = self._guarded_change_state(service.callback)

    def _guarded_change_state(
        self, change_state: Callable[[Any, Any], ChangeState.Response]
    ) -> Callable[[Any, Any], ChangeState.Response]:
        """Wrap rclpy's change_state service callback: refuse what the state forbids."""

        def guarded(
            request: ChangeState.Request, response: ChangeState.Response
        ) -> ChangeState.Response:
            state = self._state_machine.current_state[1]
            # (id, label, start id, start label, goal id, goal label) from the current state
            allowed = {t[0]: t[1] for t in self._state_machine.available_transitions}
            wanted = request.transition
            if wanted.label:
                ok = wanted.label in allowed.values()
                asked = f"{wanted.label!r}"
            else:
                ok = wanted.id in allowed
                asked = f"id {wanted.id}"
            if not ok:
                self.get_logger().warning(
                    f"refused transition {asked} in state {state!r}: allowed are "
                    f"{', '.join(f'{label} ({i})' for i, label in sorted(allowed.items()))}"
                )
                response.success = False
                return response
            return change_state(request, response)

        return guarded

    # ----------------------------------------------------------- transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load the weights and warm the backend up."""
        try:
            self.params = read(self)
            self._load()
            self._warm_up()
        except (LadderSegError, OSError, ValueError) as exc:  # weights, files, parameters
            return self._failed("configure", exc)
        except Exception as exc:  # logged here: rclpy turns it into ERROR without a word
            self._failed("configure", exc)
            raise
        self.configure_error = ""
        self.get_logger().info(f"configured: {self.segmenter.backend_name}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create publishers, subscriptions and the worker."""
        try:
            self._start()
        except LadderSegError as exc:
            return self._failed("activate", exc)
        except Exception as exc:
            self._failed("activate", exc)
            raise
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop subscriptions and publishers (the model and the worker stay).

        Returns once no frame of this activation can still be published.
        """
        self._stop_processing()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model."""
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop whatever runs, end the worker and release the model."""
        self._end_worker()
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop whatever runs and release the model: back to unconfigured."""
        if self._worker is not None:
            self._stop_processing()
        self._unload()
        self.get_logger().error(f"error while in {state.label!r}: back to unconfigured")
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    # --------------------------------------------------------------- helpers
    def _failed(self, transition: str, exc: Exception) -> TransitionCallbackReturn:
        self.configure_error = str(exc) if transition == "configure" else self.configure_error
        self.get_logger().error(f"{transition} failed: {exc}")
        self._unload()
        return TransitionCallbackReturn.FAILURE

    def _unload(self) -> None:
        # the last activation's pipeline holds the processor, and with it the model
        self.segmenter = self.processor = self.pipeline = None  # type: ignore[assignment]
        self.params = None  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ladderseg_lifecycle_node``."""
    return spin_node(LadderSegLifecycleNode, "ladderseg_lifecycle_node", argv, exiting=True)


if __name__ == "__main__":
    sys.exit(main())
