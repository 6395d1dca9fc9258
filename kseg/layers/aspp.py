"""Atrous Spatial Pyramid Pooling (DeepLab V2, V3 and V3+)."""

import keras
from keras import layers, ops

from kseg._batch_norm import batch_normalization
from kseg._checks import is_int_sequence, positive_int

from kseg.layers._validation import one_of


def conv_bn_relu_layers(filters, kernel_size, *, name, conv_name=None, rate=1, separable=False, dtype=None):
    """The layers of one conv -> batch norm -> ReLU unit, not yet called.

    ``separable=False``: ``Conv2D(kernel_size, dilation=rate)`` named
    ``conv_name`` (default ``{name}_conv``), then ``{name}_bn`` and
    ``{name}_relu``.

    ``separable=True`` with ``kernel_size > 1``: DeepLab V3+'s split
    separable convolution, ``DepthwiseConv2D(kernel_size, dilation=rate)``
    (``{name}_depthwise``) -> BN -> ReLU -> 1x1 ``Conv2D`` (``conv_name``)
    -> BN -> ReLU. Batch norm and ReLU after the depthwise step as in the
    reference TensorFlow implementation; a 1x1 kernel is never split.

    Returns a list of layers (apply them in order); every conv is
    ``padding="same"`` without bias (batch norm's beta replaces it).
    """
    conv_name = f"{name}_conv" if conv_name is None else conv_name

    def bn_relu(prefix):
        return [batch_normalization(f"{prefix}_bn", dtype=dtype),
                layers.ReLU(name=f"{prefix}_relu", dtype=dtype)]

    if separable and kernel_size > 1:
        return [
            layers.DepthwiseConv2D(kernel_size, padding="same", dilation_rate=rate, use_bias=False,
                                   name=f"{name}_depthwise", dtype=dtype),
            *bn_relu(f"{name}_depthwise"),
            layers.Conv2D(filters, 1, use_bias=False, name=conv_name, dtype=dtype),
            *bn_relu(name),
        ]
    return [layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=rate, use_bias=False,
                          name=conv_name, dtype=dtype),
            *bn_relu(name)]


def run_layers(stack, x, training=None):
    """Apply ``stack`` in order; batch norm and dropout get ``training``."""
    for layer in stack:
        x = layer(x, training=training) if isinstance(layer, (layers.BatchNormalization, layers.Dropout)) else layer(x)
    return x


@keras.saving.register_keras_serializable(package="kseg")
class ASPP(keras.layers.Layer):
    """Parallel dilated convolutions that see several context sizes at once.

    ``merge="concat"`` (DeepLab V3): a 1x1 branch, one 3x3 branch per rate
    (dilation = rate), optional image pooling (global average, 1x1 conv,
    broadcast back), each with batch norm + ReLU; concatenated and projected
    by a 1x1 conv (+ BN, ReLU, dropout) to ``filters`` channels.
    ``separable=True`` makes every 3x3 branch a depthwise-separable conv
    (DeepLab V3+: depthwise 3x3 with the rate, BN, ReLU, 1x1 conv, BN, ReLU).
    ``rates=()`` leaves only the 1x1 branch and image pooling: the light
    ASPP of DeepLab's MobileNet setting.

    ``merge="sum"`` (DeepLab V2): one 3x3 dilated conv per rate, each with
    bias and no normalisation, summed. Use ``filters=num_classes`` to get the
    paper's per-branch classifiers; ``image_pooling`` is ignored by V2 and
    must be False, ``rates`` must not be empty and ``separable`` must be False.

    Input ``(B, H, W, C)`` of any spatial size; output ``(B, H, W, filters)``.
    """

    def __init__(self, filters=256, rates=(6, 12, 18), image_pooling=True, merge="concat",
                 dropout=0.1, separable=False, **kwargs):
        super().__init__(**kwargs)
        positive_int(filters, "`filters`")
        if not is_int_sequence(rates):
            raise ValueError(f"`rates` must be a list of positive ints (empty for merge='concat'); got {rates!r}.")
        self.merge = one_of(merge, "merge", ("concat", "sum"))
        if not isinstance(separable, bool):
            raise ValueError(f"`separable` must be True or False; got {separable!r}.")
        if merge == "sum":
            if not rates:
                raise ValueError("`rates` must not be empty with merge='sum' (DeepLab V2 sums one branch per rate).")
            if image_pooling:
                raise ValueError("`image_pooling=True` needs `merge='concat'` (DeepLab V2 sums dilated branches only).")
            if separable:
                raise ValueError("`separable=True` needs `merge='concat'` (DeepLab V2 branches are plain "
                                 "classifier convolutions with bias).")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1); got {dropout!r}.")
        self.filters, self.rates, self.separable = filters, tuple(int(r) for r in rates), separable
        self.image_pooling, self.dropout = bool(image_pooling), float(dropout)

        if self.merge == "sum":
            self.branches = [
                [layers.Conv2D(filters, 3, padding="same", dilation_rate=r, use_bias=True,
                               name=f"branch{i}_conv", dtype=self.dtype_policy)]
                for i, r in enumerate(self.rates, 1)
            ]
            return
        unit = lambda name, kernel, rate=1: conv_bn_relu_layers(  # noqa: E731
            filters, kernel, name=name, rate=rate, separable=separable, dtype=self.dtype_policy)
        self.branches = [unit("branch0", 1)]
        self.branches += [unit(f"branch{i}", 3, r) for i, r in enumerate(self.rates, 1)]
        if self.image_pooling:
            self.pool_branch = unit("pool", 1)
        self.projection = [*unit("project", 1),
                           layers.Dropout(self.dropout, name="project_dropout", dtype=self.dtype_policy)]

    def build(self, input_shape):
        # Sublayers get their weights here so a saved model reloads them.
        def build_stack(stack, shape):
            for layer in stack:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
            return shape

        for branch in self.branches:
            build_stack(branch, input_shape)
        if self.merge == "concat":
            if self.image_pooling:
                build_stack(self.pool_branch, (input_shape[0], 1, 1, input_shape[-1]))
            n_maps = len(self.branches) + int(self.image_pooling)
            build_stack(self.projection, (*input_shape[:3], n_maps * self.filters))

    def call(self, inputs, training=None):
        outputs = [run_layers(branch, inputs, training) for branch in self.branches]
        if self.merge == "sum":
            return sum(outputs[1:], outputs[0])
        if self.image_pooling:
            pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
            pooled = run_layers(self.pool_branch, pooled, training)
            shape = ops.shape(inputs)
            outputs.append(ops.broadcast_to(pooled, (shape[0], shape[1], shape[2], self.filters)))
        merged = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        return run_layers(self.projection, merged, training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, rates=list(self.rates), image_pooling=self.image_pooling,
                      merge=self.merge, dropout=self.dropout, separable=self.separable)
        return config
