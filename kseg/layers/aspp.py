"""Atrous Spatial Pyramid Pooling (DeepLab V2 and V3)."""

import keras
from keras import layers, ops

from kseg.layers._validation import one_of


@keras.saving.register_keras_serializable(package="kseg")
class ASPP(keras.layers.Layer):
    """Parallel dilated convolutions that see several context sizes at once.

    ``merge="concat"`` (DeepLab V3): a 1x1 branch, one 3x3 branch per rate
    (dilation = rate), optional image pooling (global average, 1x1 conv,
    broadcast back), each with batch norm + ReLU; concatenated and projected
    by a 1x1 conv (+ BN, ReLU, dropout) to ``filters`` channels.

    ``merge="sum"`` (DeepLab V2): one 3x3 dilated conv per rate, each with
    bias and no normalisation, summed. Use ``filters=num_classes`` to get the
    paper's per-branch classifiers; ``image_pooling`` is ignored by V2 and
    must be False.

    Input ``(B, H, W, C)`` of any spatial size; output ``(B, H, W, filters)``.
    """

    def __init__(self, filters=256, rates=(6, 12, 18), image_pooling=True, merge="concat",
                 dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"`filters` must be a positive int; got {filters!r}.")
        if (
            not isinstance(rates, (list, tuple))
            or not rates
            or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in rates)
        ):
            raise ValueError(f"`rates` must be a non-empty list of positive ints; got {rates!r}.")
        self.merge = one_of(merge, "merge", ("concat", "sum"))
        if merge == "sum" and image_pooling:
            raise ValueError("`image_pooling=True` needs `merge='concat'` (DeepLab V2 sums dilated branches only).")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1); got {dropout!r}.")
        self.filters, self.rates = filters, tuple(rates)
        self.image_pooling, self.dropout = bool(image_pooling), float(dropout)

        def conv(name, kernel, rate=1, use_bias=False):
            return layers.Conv2D(filters, kernel, padding="same", dilation_rate=rate, use_bias=use_bias,
                                 name=name, dtype=self.dtype_policy)

        def bn_relu(name):
            return [layers.BatchNormalization(name=f"{name}_bn", dtype=self.dtype_policy),
                    layers.ReLU(name=f"{name}_relu", dtype=self.dtype_policy)]

        if self.merge == "sum":
            self.branches = [[conv(f"branch{i}_conv", 3, r, use_bias=True)] for i, r in enumerate(self.rates, 1)]
            return
        self.branches = [[conv("branch0_conv", 1), *bn_relu("branch0")]]
        for i, r in enumerate(self.rates, 1):
            self.branches.append([conv(f"branch{i}_conv", 3, r), *bn_relu(f"branch{i}")])
        if self.image_pooling:
            self.pool_branch = [conv("pool_conv", 1), *bn_relu("pool")]
        self.projection = [conv("project_conv", 1), *bn_relu("project"),
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

    @staticmethod
    def _run(stack, x, training):
        for layer in stack:
            x = layer(x, training=training) if isinstance(layer, (layers.BatchNormalization, layers.Dropout)) else layer(x)
        return x

    def call(self, inputs, training=None):
        outputs = [self._run(branch, inputs, training) for branch in self.branches]
        if self.merge == "sum":
            return sum(outputs[1:], outputs[0])
        if self.image_pooling:
            pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
            pooled = self._run(self.pool_branch, pooled, training)
            shape = ops.shape(inputs)
            outputs.append(ops.broadcast_to(pooled, (shape[0], shape[1], shape[2], self.filters)))
        return self._run(self.projection, ops.concatenate(outputs, axis=-1), training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, rates=list(self.rates), image_pooling=self.image_pooling,
                      merge=self.merge, dropout=self.dropout)
        return config
