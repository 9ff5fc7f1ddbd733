"""Small networks written the way the ONNX model zoo's early exporters wrote AlexNet, ResNet-50, DenseNet-121,
SqueezeNet, VGG-19, Inception and ShuffleNet: opset 9, IR version 3, every weight listed as a graph input as well as an
initializer, and biases built at run time by ConstantOfShape from a shape initializer ('<name>__SHAPE'). That
shape is a graph input too in some files (valid IR 3) and not in others (which IR 3 forbids and ONNX Runtime
accepts); both forms are written here.

Only the layout is legacy; the layers are a few channels wide so that the tests stay fast.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 9
IR_VERSION = 3
INPUT = "data_0"
INPUT_SHAPE = (1, 3, 16, 16)


class LegacyGraph:
    """Collects nodes, weights (initializers that are also graph inputs) and ConstantOfShape biases."""

    def __init__(self, seed, shapes_as_inputs=False):
        self.shapes_as_inputs = shapes_as_inputs
        self.rng = np.random.default_rng(seed)
        self.nodes, self.weights, self.shapes = [], {}, {}

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        value = self.rng.standard_normal(shape) * (scale or np.sqrt(2.0 / fan_in))
        self.weights[name] = value.astype(np.float32)
        return name

    def filled(self, name, shape, value):
        """A constant tensor as old exporters stored it: ConstantOfShape(name__SHAPE) with one fill value."""
        self.shapes[f"{name}__SHAPE"] = np.asarray(shape, np.int64)
        fill = helper.make_tensor("value", TensorProto.FLOAT, [1], [value])
        self.nodes.append(helper.make_node("ConstantOfShape", [f"{name}__SHAPE"], [name], value=fill))
        return name

    def add(self, op, inputs, output, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def conv(self, x, name, cin, cout, kernel, stride=1, pad=0):
        w = self.weight(f"{name}_w_0", (cout, cin, kernel, kernel))
        b = self.filled(f"{name}_b_0", (cout,), 0.05)
        return self.add("Conv", [x, w, b], f"{name}_0", kernel_shape=[kernel, kernel], strides=[stride, stride],
                        pads=[pad] * 4)

    def batchnorm(self, x, name, channels):
        params = [self.weight(f"{name}_{p}_0", (channels,), 0.1) for p in ("scale", "bias", "mean")]
        self.weights[params[0]] += 1.0
        var = self.weight(f"{name}_var_0", (channels,), 0.1)
        self.weights[var] = np.abs(self.weights[var]) + 0.5
        return self.add("BatchNormalization", [x, *params, var], f"{name}_0", epsilon=1e-5)

    def relu(self, x):
        return self.add("Relu", [x], f"{x}_relu")

    def classifier(self, x, features, classes=10):
        flat = self.add("Flatten", [x], "flatten_0", axis=1)
        w = self.weight("fc_w_0", (classes, features))
        b = self.filled("fc_b_0", (classes,), 0.01)
        logits = self.add("Gemm", [flat, w, b], "fc_0", transB=1)
        return self.add("Softmax", [logits], "prob_1", axis=1)

    def model(self, output, classes=10):
        weights = [numpy_helper.from_array(v, k) for k, v in self.weights.items()]
        shapes = [numpy_helper.from_array(v, k) for k, v in self.shapes.items()]
        inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, INPUT_SHAPE)]
        inputs += [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                   for k, v in self.weights.items()]
        if self.shapes_as_inputs:
            inputs += [helper.make_tensor_value_info(k, TensorProto.INT64, v.shape) for k, v in self.shapes.items()]
        graph = helper.make_graph(self.nodes, "legacy", inputs,
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, (1, classes))],
                                  weights + shapes)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="caffe2")
        model.ir_version = IR_VERSION
        return model


def alexnet():
    """Conv-ReLU-LRN-MaxPool stages, then a Dropout and a Gemm: LRN blocks conversion."""
    g = LegacyGraph(1)
    x = g.relu(g.conv(INPUT, "conv1", 3, 8, 3, pad=1))
    x = g.add("LRN", [x], "norm1_1", size=5, alpha=1e-4, beta=0.75, bias=1.0)
    x = g.add("MaxPool", [x], "pool1_1", kernel_shape=[2, 2], strides=[2, 2])
    x = g.relu(g.conv(x, "conv2", 8, 8, 3, pad=1))
    x = g.add("MaxPool", [x], "pool2_1", kernel_shape=[2, 2], strides=[2, 2])
    x = g.add("Dropout", [x], "drop_1", ratio=0.5)
    return g.model(g.classifier(x, 8 * 4 * 4))


def vgg():
    """Plain Conv-ReLU stacks with max pooling."""
    g = LegacyGraph(2)
    x = g.relu(g.conv(INPUT, "conv1_1", 3, 8, 3, pad=1))
    x = g.relu(g.conv(x, "conv1_2", 8, 8, 3, pad=1))
    x = g.add("MaxPool", [x], "pool1_1", kernel_shape=[2, 2], strides=[2, 2])
    x = g.relu(g.conv(x, "conv2_1", 8, 8, 3, pad=1))
    x = g.add("MaxPool", [x], "pool2_1", kernel_shape=[2, 2], strides=[2, 2])
    return g.model(g.classifier(x, 8 * 4 * 4))


def resnet():
    """Conv-BatchNorm-ReLU with a residual Sum, global average pooling."""
    g = LegacyGraph(3, shapes_as_inputs=True)
    stem = g.relu(g.batchnorm(g.conv(INPUT, "conv1", 3, 8, 3, stride=2, pad=1), "bn1", 8))
    y = g.relu(g.batchnorm(g.conv(stem, "res2a_1", 8, 8, 3, pad=1), "bn2a_1", 8))
    y = g.batchnorm(g.conv(y, "res2a_2", 8, 8, 3, pad=1), "bn2a_2", 8)
    x = g.relu(g.add("Sum", [stem, y], "res2a_sum_0"))
    x = g.add("GlobalAveragePool", [x], "pool5_1")
    return g.model(g.classifier(x, 8))


def densenet():
    """BatchNorm-ReLU-Conv layers whose outputs are concatenated, average pooling in between."""
    g = LegacyGraph(4, shapes_as_inputs=True)
    x = g.conv(INPUT, "conv1", 3, 8, 3, pad=1)
    y = g.conv(g.relu(g.batchnorm(x, "bn2_1", 8)), "conv2_1", 8, 4, 3, pad=1)
    x = g.add("Concat", [x, y], "concat2_1", axis=1)
    x = g.relu(g.batchnorm(x, "bn_final", 12))
    x = g.add("AveragePool", [x], "pool2_1", kernel_shape=[2, 2], strides=[2, 2])
    x = g.add("GlobalAveragePool", [x], "pool5_1")
    return g.model(g.classifier(x, 12))


def squeezenet():
    """A fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated; the classifier is a Conv."""
    g = LegacyGraph(5)
    x = g.relu(g.conv(INPUT, "conv1", 3, 8, 3, stride=2, pad=1))
    x = g.add("MaxPool", [x], "pool1_1", kernel_shape=[2, 2], strides=[2, 2])
    s = g.relu(g.conv(x, "fire2_squeeze", 8, 4, 1))
    e1 = g.relu(g.conv(s, "fire2_expand1", 4, 8, 1))
    e3 = g.relu(g.conv(s, "fire2_expand3", 4, 8, 3, pad=1))
    x = g.add("Concat", [e1, e3], "fire2_concat_1", axis=1)
    x = g.relu(g.conv(x, "conv10", 16, 10, 1))
    x = g.add("GlobalAveragePool", [x], "pool10_1")
    g.weights["reshape_shape"] = np.array([1, 10], np.int64)
    x = g.add("Reshape", [x, "reshape_shape"], "reshape_1")
    return g.model(g.add("Softmax", [x], "prob_1", axis=1))


def inception():
    """An inception module: 1x1, 3x3 and pooled branches concatenated, after an LRN."""
    g = LegacyGraph(6)
    x = g.relu(g.conv(INPUT, "conv1", 3, 8, 3, stride=2, pad=1))
    x = g.add("LRN", [x], "norm1_1", size=5, alpha=1e-4, beta=0.75, bias=1.0)
    b1 = g.relu(g.conv(x, "inception_1x1", 8, 4, 1))
    b3 = g.relu(g.conv(g.relu(g.conv(x, "inception_3x3_reduce", 8, 4, 1)), "inception_3x3", 4, 4, 3, pad=1))
    pooled = g.add("MaxPool", [x], "inception_pool_1", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    bp = g.relu(g.conv(pooled, "inception_pool_proj", 8, 4, 1))
    x = g.add("Concat", [b1, b3, bp], "inception_output_1", axis=1)
    x = g.add("AveragePool", [x], "pool5_1", kernel_shape=[8, 8], strides=[1, 1])
    return g.model(g.classifier(x, 12))


def shufflenet():
    """A channel shuffle written for batch 1 between two convolutions: Reshape to (1, groups, C/groups, H, W),
    Transpose, Reshape back to (1, C, H, W)."""
    g = LegacyGraph(7)
    x = g.relu(g.conv(INPUT, "conv1", 3, 8, 3, stride=2, pad=1))
    g.weights["shuffle_split"] = np.array([1, 2, 4, 8, 8], np.int64)
    g.weights["shuffle_merge"] = np.array([1, 8, 8, 8], np.int64)
    x = g.add("Reshape", [x, "shuffle_split"], "shuffle_split_1")
    x = g.add("Transpose", [x], "shuffle_transpose_1", perm=[0, 2, 1, 3, 4])
    x = g.add("Reshape", [x, "shuffle_merge"], "shuffle_merge_1")
    x = g.relu(g.conv(x, "gconv2", 8, 8, 3, pad=1))
    x = g.add("GlobalAveragePool", [x], "pool5_1")
    return g.model(g.classifier(x, 8))


MODELS = {"alexnet": alexnet, "vgg": vgg, "resnet": resnet, "densenet": densenet, "squeezenet": squeezenet,
          "inception": inception, "shufflenet": shufflenet}
RELU_ONLY = ("vgg", "resnet", "densenet", "squeezenet", "shufflenet")
SHAPES_AS_INPUTS = ("resnet", "densenet")


def save(folder):
    """Write every model as <name>.onnx into ``folder``; returns the paths."""
    paths = []
    for name, build in MODELS.items():
        path = folder / f"{name}.onnx"
        onnx.save(build(), path)
        paths.append(path)
    return paths
