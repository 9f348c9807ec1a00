"""What every Triton Python model here shares: its parameters, its inputs, and one way to turn
a failure into a per-request error.

`respond` gives exactly one response per request, in order: the request's outputs, or a
`TritonError` for that request alone (INVALID_ARG for bad input, INTERNAL otherwise, with the
traceback logged through `pb_utils.Logger`), so one bad request never fails its batch. The
decoupled stream model uses `send_error` for the same rule. Imported only inside Triton.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from tts_contract.request import RequestError
from vits2.serving.path import STEPS, Step

BAD_INPUT = (RequestError, ValueError)
"""Exceptions that mean the request was wrong (INVALID_ARG), not the server."""


def model_parameters(args: Mapping[str, str]) -> dict[str, str]:
    """The model config's ``parameters`` as {key: string value}."""
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def optional_scalar(request: Any, name: str) -> Any:
    """The single value of an optional input, or None when the request left it out."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)
    if value.size != 1:
        raise RequestError(f"{name} must hold exactly one value, got {value.size}")
    return value[0]


def step_inputs(
    request: Any, step: str, path: Sequence[Step] | None = None
) -> dict[str, np.ndarray]:
    """The inputs of request-path step ``step`` by name: of the voice's ``path``
    (`vits2.serving.path.steps_for`; the noise and join steps are the same in every voice's,
    so those models leave it out and get 2.3's)."""
    steps = {s.name: s for s in path} if path is not None else STEPS
    tensors = {n: pb_utils.get_input_tensor_by_name(request, n) for n in steps[step].inputs}
    # optional inputs a request left out (the join step's pitch scales) are left out here too
    return {n: t.as_numpy() for n, t in tensors.items() if t is not None}


def error_for(model: str, err: BaseException) -> Any:
    """The TritonError for ``err``: bad input is INVALID_ARG with the message as is; anything
    else is logged with its traceback and returned as INTERNAL naming the model."""
    if isinstance(err, BAD_INPUT):
        return pb_utils.TritonError(str(err), pb_utils.TritonError.INVALID_ARG)
    trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    pb_utils.Logger.log_error(f"{model}: request failed\n{trace}")
    return pb_utils.TritonError(
        f"{failed_prefix(model)}{type(err).__name__}: {err}", pb_utils.TritonError.INTERNAL
    )


def failed_prefix(model: str) -> str:
    """How a model's own failure (not the request's) begins: `error_for` writes it, and a BLS
    caller reads it (`refused`)."""
    return f"{model} failed: "


STEP_DOWN = ("Stub process", "is not ready", "unknown model", "unavailable", "failed to load")
"""What Triton itself says when a step model cannot run at all (a dead stub, a model that is
not loaded): the server's fault, whatever the request."""


def refused(model: str, error: Any, by_message: bool = True) -> bool:
    """Whether a BLS call's ``error`` from step ``model`` (one of this repository's Python
    models) means the request was wrong. Triton's BLS drops the step's error code (every error
    arrives INTERNAL: triton-inference-server/server#7804), so the message decides: a model's
    own failure starts with `failed_prefix`, Triton's own failures say `STEP_DOWN`; anything
    else is the step's bad-input message."""
    code = error.code() if hasattr(error, "code") else None
    if code == pb_utils.TritonError.INVALID_ARG:
        return True
    if not by_message:
        return False
    message = error.message()
    return not message.startswith(failed_prefix(model)) and not any(s in message for s in STEP_DOWN)


def respond(
    model: str,
    requests: Iterable[Any],
    handle: Callable[[Any], Mapping[str, np.ndarray]],
) -> list[Any]:
    """One response per request: ``handle(request)``'s tensors, or that request's error."""
    responses = []
    for request in requests:
        try:
            outputs = handle(request)
        except Exception as err:  # the failure is this request's alone; the model keeps serving
            responses.append(pb_utils.InferenceResponse(error=error_for(model, err)))
            continue
        tensors = [pb_utils.Tensor(k, np.ascontiguousarray(v)) for k, v in outputs.items()]
        responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
    return responses


def send_error(model: str, sender: Any, err: BaseException) -> None:
    """A decoupled model's error response for one request (the final flag is sent after)."""
    sender.send(pb_utils.InferenceResponse(error=error_for(model, err)))
