"""Sliding-window ("slide") inference as a Keras layer: large images in tiles.

MMSegmentation's slide mode, inside the graph so it exports: windows of
``tile_size`` move over the image with stride ``floor(tile * (1 - overlap))``
(at least 1 pixel); the last window of each axis is shifted back to end at
the image border; the logits of all windows are summed and divided by the
number of windows covering each pixel. An axis shorter than its tile gets
one window as long as the image (rounded up to ``size_divisor`` with zero
padding, or padded to the whole tile when the wrapped model has a fixed
input size); padding is cropped away and images are never upscaled.

Memory follows the tile, not the image: windows run one at a time, and the
image is swept in bands of one window row; each band's finished rows are
emitted before the next band starts, so the accumulator holds ``tile_h x W``
logits, not ``H x W``. ``SlidingWindow.map_bands`` applies a function (e.g.
argmax) to each finished band, so a serving graph that returns classes never
holds the full-image logits at all.

Static image sizes (a TFLite export) unroll into a fixed grid of windows;
unknown sizes run a ``tf.while_loop`` over window rows and columns.
"""

import keras
import tensorflow as tf

from kseg._checks import is_int_sequence, positive_int
from kseg._nested import unwrap_config, wrapper_config


def window_starts(size, window, stride):
    """Start offsets of the windows along one axis (Python ints).

    ``size >= window``; the last window is shifted back so it ends at ``size``.
    """
    count = max(size - window + stride - 1, 0) // stride + 1
    return [min(i * stride, size - window) for i in range(count)]


def tile_stride(tile, overlap):
    """Stride of the windows along an axis of ``tile`` pixels."""
    return max(1, int(tile * (1.0 - overlap)))


def check_tile_size(tile_size, name="tile_size"):
    """``tile_size`` as ``(height, width)`` ints, or ValueError naming ``name``."""
    if not is_int_sequence(tile_size, length=2):
        raise ValueError(f"{name} must be (height, width), two positive ints; got {tile_size!r}.")
    return (int(tile_size[0]), int(tile_size[1]))


def check_overlap(overlap, name="overlap"):
    """``overlap`` as a float in [0, 1), or ValueError naming ``name``."""
    ok = isinstance(overlap, (int, float)) and not isinstance(overlap, bool)
    if not ok or not 0.0 <= overlap < 1.0:
        raise ValueError(f"{name} must be a number with 0 <= {name} < 1; got {overlap!r}.")
    return float(overlap)


def _swap01(tensor):
    rank = tensor.shape.rank
    return tf.transpose(tensor, [1, 0, *range(2, rank)])


def _round_up(size, divisor):
    return (size + divisor - 1) // divisor * divisor


@keras.saving.register_keras_serializable(package="kseg")
class SlidingWindow(keras.layers.Layer):
    """Run ``model`` over ``tile_size`` windows of the input and average the logits.

    Input ``(B, H, W, C)`` float32 images of any size; output float32 logits
    ``(B, H, W, num_classes)``. See the module docstring for the window grid.

    Args:
        model: a segmentation model (logits at input resolution) that takes
            ``tile_size`` inputs; if its input size is fixed it must equal
            ``tile_size``.
        tile_size: ``(height, width)`` of a window, multiples of ``size_divisor``.
        overlap: fraction of a tile shared by neighbouring windows, in [0, 1).
        size_divisor: an image shorter than a tile is zero-padded up to a
            multiple of this before it goes through ``model``.
    """

    def __init__(self, model, tile_size, overlap=0.25, size_divisor=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
        self.tile_size = check_tile_size(tile_size)
        self.overlap = check_overlap(overlap)
        self.size_divisor = positive_int(size_divisor, "size_divisor")
        bad = [t for t in self.tile_size if t % self.size_divisor]
        if bad:
            raise ValueError(f"tile_size {self.tile_size} must be multiples of the model's size divisor "
                             f"{self.size_divisor}.")
        input_shape = tuple(model.inputs[0].shape)
        fixed = input_shape[1:3]
        self.pad_to_tile = fixed != (None, None)
        if self.pad_to_tile and tuple(fixed) != self.tile_size:
            raise ValueError(f"tile_size {self.tile_size} must equal the model's fixed input size {tuple(fixed)}.")
        self.num_classes = model.outputs[0].shape[-1]
        if self.num_classes is None:
            raise ValueError("model must declare its number of output classes (logits channels).")
        self.model = model
        self.strides = tuple(tile_stride(t, self.overlap) for t in self.tile_size)

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.num_classes)

    def get_config(self):
        return wrapper_config(super().get_config(), self.model, tile_size=list(self.tile_size),
                              overlap=self.overlap, size_divisor=self.size_divisor)

    @classmethod
    def from_config(cls, config):
        return cls(**unwrap_config(config, tile_size=tuple))

    def call(self, inputs, training=None):
        return self.map_bands(inputs, lambda logits: logits, training=training)

    def _window(self, size, axis):
        """Window length along ``axis`` for an image ``size`` long (int or tensor)."""
        tile = self.tile_size[axis]
        if self.pad_to_tile:
            return tile
        if isinstance(size, int):
            return tile if size >= tile else _round_up(size, self.size_divisor)
        return tf.where(size >= tile, tile, _round_up(size, self.size_divisor))

    def map_bands(self, images, fn, training=None):
        """``fn`` of the averaged logits, computed band by band and concatenated along height.

        Args:
            images: ``(B, H, W, C)`` pixels, any real dtype (uint8 or float).
            fn: maps logits ``(B, h, W, num_classes)`` of a band of rows to a
                tensor (or dict of tensors) ``(B, h, W, ...)``, e.g. argmax.

        Returns:
            ``fn``'s structure, each tensor ``(B, H, W, ...)``.
        """
        # Pixels stay in their dtype (uint8 from a serving signature is 4x
        # smaller than float32); each window is cast when it runs.
        x = tf.convert_to_tensor(images)
        static = x.shape.as_list()
        if static[1] is not None and static[2] is not None:
            return self._static_bands(x, fn, training)
        return self._dynamic_bands(x, fn, training)

    def _pad(self, x, height, width, win_h, win_w):
        pad_h = tf.maximum(win_h - height, 0) if not isinstance(height, int) else max(win_h - height, 0)
        pad_w = tf.maximum(win_w - width, 0) if not isinstance(width, int) else max(win_w - width, 0)
        return tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def _run(self, window, training):
        return tf.cast(self.model(tf.cast(window, tf.float32), training=training), tf.float32)

    def _static_bands(self, x, fn, training):
        _, height, width, _ = x.shape.as_list()
        win_h, win_w = self._window(height, 0), self._window(width, 1)
        x = self._pad(x, height, width, win_h, win_w)
        padded_h, padded_w = max(height, win_h), max(width, win_w)
        rows = window_starts(padded_h, win_h, self.strides[0])
        cols = window_starts(padded_w, win_w, self.strides[1])
        col_count = [0] * padded_w
        for x1 in cols:
            for c in range(x1, x1 + win_w):
                col_count[c] += 1
        inverse_cols = tf.constant([1.0 / c for c in col_count], tf.float32)[None, None, :, None]
        carry = None
        outputs = []
        for i, y1 in enumerate(rows):
            band = None
            for x1 in cols:
                logits = self._run(x[:, y1:y1 + win_h, x1:x1 + win_w], training)
                placed = tf.pad(logits, [[0, 0], [0, 0], [x1, padded_w - x1 - win_w], [0, 0]])
                band = placed if band is None else band + placed
            if carry is not None:
                band = band + carry
            # Rows up to the next window row's start are final; the rest carry over.
            done = (rows[i + 1] if i + 1 < len(rows) else padded_h) - y1
            row_count = [sum(1 for r in rows if r <= y < r + win_h) for y in range(y1, y1 + done)]
            inverse_rows = tf.constant([1.0 / c for c in row_count], tf.float32)[None, :, None, None]
            finished = band[:, :done] * inverse_rows * inverse_cols
            outputs.append(fn(finished[:, :, :width]))
            if done < win_h:
                carry = tf.pad(band[:, done:], [[0, 0], [0, done], [0, 0], [0, 0]])
        merged = tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=1), *outputs)
        return tf.nest.map_structure(lambda t: t[:, :height], merged)

    def _dynamic_bands(self, x, fn, training):
        shape = tf.shape(x)
        height, width = shape[1], shape[2]
        win_h, win_w = self._window(height, 0), self._window(width, 1)
        x = self._pad(x, height, width, win_h, win_w)
        padded_h, padded_w = tf.maximum(height, win_h), tf.maximum(width, win_w)
        stride_h, stride_w = self.strides
        n_rows = tf.maximum(padded_h - win_h + stride_h - 1, 0) // stride_h + 1
        n_cols = tf.maximum(padded_w - win_w + stride_w - 1, 0) // stride_w + 1
        row_starts = tf.minimum(tf.range(n_rows) * stride_h, padded_h - win_h)
        col_starts = tf.minimum(tf.range(n_cols) * stride_w, padded_w - win_w)

        def coverage(starts, window, size):
            positions = tf.range(size)[:, None]
            inside = (positions >= starts[None]) & (positions < starts[None] + window)
            return tf.reduce_sum(tf.cast(inside, tf.float32), axis=1)

        inverse_cols = (1.0 / coverage(col_starts, win_w, padded_w))[None, None, :, None]
        inverse_rows = 1.0 / coverage(row_starts, win_h, padded_h)
        batch = shape[0]
        band_shape = tf.TensorShape([None, None, None, self.num_classes])
        zeros_band = tf.zeros(tf.stack([batch, win_h, padded_w, self.num_classes]), tf.float32)
        # One finished band per window row, shaped by fn; TensorArrays take
        # elements of different heights (the last band may be shorter).
        probe = fn(tf.zeros(tf.stack([batch, 1, width, self.num_classes]), tf.float32))
        arrays = tf.nest.map_structure(
            lambda t: tf.TensorArray(t.dtype, size=n_rows, infer_shape=False, element_shape=tf.TensorShape(None)),
            probe,
        )

        def row_body(i, carry, arrays):
            y1 = row_starts[i]
            window_rows = x[:, y1:y1 + win_h]

            def col_body(j, band):
                x1 = col_starts[j]
                logits = self._run(window_rows[:, :, x1:x1 + win_w], training)
                placed = tf.pad(logits, [[0, 0], [0, 0], [x1, padded_w - x1 - win_w], [0, 0]])
                return j + 1, band + placed

            _, band = tf.while_loop(
                lambda j, band: j < n_cols, col_body, (tf.constant(0), carry),
                shape_invariants=(tf.TensorShape([]), band_shape), parallel_iterations=1,
            )
            next_start = tf.where(i + 1 < n_rows, row_starts[tf.minimum(i + 1, n_rows - 1)], padded_h)
            done = next_start - y1
            scale = inverse_rows[y1:y1 + done][None, :, None, None] * inverse_cols
            finished = (band[:, :done] * scale)[:, :, :width]
            # TensorArray.concat joins along axis 0: rows go first while stored.
            arrays = tf.nest.map_structure(lambda ta, t: ta.write(i, _swap01(t)), arrays, fn(finished))
            carry = tf.pad(band[:, done:], [[0, 0], [0, done], [0, 0], [0, 0]])
            return i + 1, carry, arrays

        _, _, arrays = tf.while_loop(
            lambda i, carry, arrays: i < n_rows, row_body, (tf.constant(0), zeros_band, arrays),
            shape_invariants=(tf.TensorShape([]), band_shape, tf.nest.map_structure(lambda _: tf.TensorShape(None), arrays)),
            parallel_iterations=1,
        )

        def gather(ta, like):
            merged = tf.ensure_shape(ta.concat(), [None] * like.shape.rank)
            return _swap01(merged)[:, :height]

        return tf.nest.map_structure(gather, arrays, probe)


def with_tiling(model, tile_size, overlap=0.25, *, size_divisor=1):
    """Wrap ``model`` so it runs in sliding windows of ``tile_size`` (see ``SlidingWindow``).

    The wrapper takes images of any size ``(B, H, W, C)`` and returns float32
    logits ``(B, H, W, num_classes)``; it saves with ``safe_mode=True`` and
    exports to SavedModel (any size) and builtin-only TFLite (a fixed size
    unrolls into a fixed grid of windows).

    Args:
        model: segmentation model whose logits are at input resolution.
        tile_size: ``(height, width)`` of a window.
        overlap: fraction of a tile shared by neighbouring windows, 0 <= overlap < 1.
        size_divisor: input-size multiple the model needs; tiles must be
            multiples of it and images shorter than a tile are padded to one.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    channels = model.inputs[0].shape[-1]
    inputs = keras.Input((None, None, channels), name="images")
    logits = SlidingWindow(model, tile_size, overlap, size_divisor=size_divisor, name="sliding_window")(inputs)
    return keras.Model(inputs, logits, name=f"{model.name}_tiled")
