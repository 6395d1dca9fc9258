"""Global mixed-precision policy."""

import keras

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def set_precision(policy):
    """Set Keras' global dtype policy for models built afterwards.

    Args:
        policy: "float32", "mixed_float16" (GPUs with float16 tensor cores)
            or "mixed_bfloat16" (TPUs, recent CPUs and GPUs).

    Returns the policy name. kseg models keep their final logits in float32
    and kseg losses compute in float32 under either mixed policy; with
    "mixed_float16" Keras wraps the optimizer in loss scaling at compile time.

    Raises:
        ValueError: unknown policy (the message lists the known ones).
    """
    if policy not in POLICIES:
        raise ValueError(f"Unknown precision policy {policy!r}. Known policies: {', '.join(POLICIES)}.")
    keras.mixed_precision.set_global_policy(policy)
    return policy
