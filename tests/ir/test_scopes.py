"""Module paths from source node names: torch export names, and TF/Keras names from tf2onnx."""

from mindconverter.ir.scopes import SourceScopes, keras_layer_path, torch_path


def test_torch_names_nest_their_module_paths():
    assert torch_path("/layer1/layer1.0/conv1/Conv") == ("layer1", "0", "conv1")
    assert torch_path("/encoder/layers.0/attention/MatMul") == ("encoder", "layers", "0", "attention")
    assert torch_path("/Relu") == () and torch_path("Conv_3") == ()
    assert SourceScopes.of(["/layer1/layer1.0/conv1/Conv", "Conv_3"]).style == "torch"


def test_keras_application_layer_names_are_blocks_of_layers():
    assert keras_layer_path("block_1_expand_BN") == ("block_1", "expand_BN")  # MobileNetV2
    assert keras_layer_path("conv2_block1_1_conv") == ("conv2", "block1", "conv1")  # ResNet50
    assert keras_layer_path("conv2_block1_0_bn") == ("conv2", "block1", "bn0")
    assert keras_layer_path("block1a_se_reduce") == ("block1a", "se_reduce")  # EfficientNet
    assert keras_layer_path("block1_conv1") == ("block1", "conv1")  # VGG16
    assert keras_layer_path("predictions") == ("predictions",)
    assert keras_layer_path("expanded_conv_depthwise") == ("expanded_conv_depthwise",)


def test_tf2onnx_names_drop_the_model_prefix_the_call_suffix_and_op_scopes():
    names = [
        "mobilenet_tiny_1/bn_Conv1_1/batchnorm/mul_1__6",
        "mobilenet_tiny_1/Conv1_relu_1/Relu6",
        "mobilenet_tiny_1/block_1_depthwise_BN_1/batchnorm/add_1",
        "mobilenet_tiny_1/block_1_add_1/Add",
        "mobilenet_tiny_1/predictions_1/MatMul",
        "Conv__63",
    ]
    scopes = SourceScopes.of(names)
    assert (scopes.style, scopes.prefix, scopes.suffix) == ("tf", "mobilenet_tiny_1", "_1")
    assert [scopes.path(n) for n in names] == [
        ("bn_Conv1",), ("Conv1_relu",), ("block_1", "depthwise_BN"), ("block_1", "add"), ("predictions",), (),
    ]
    # A weight keeps its layer's name: tf2onnx's own ops (`Conv__66`) are placed by it.
    assert scopes.path("mobilenet_tiny_1/block_1_expand_1/convolution/merged_input:0") == ("block_1", "expand")


def test_tf1_and_slim_names_keep_their_nesting_without_op_scopes():
    plain = SourceScopes.of(["block_1_expand/Conv2D", "block_1_expand_BN/FusedBatchNormV3", "dense/BiasAdd"])
    assert (plain.prefix, plain.suffix) == (None, None)
    assert plain.path("block_1_expand_BN/FusedBatchNormV3") == ("block_1", "expand_BN")
    slim = SourceScopes.of([
        "resnet_v1_50/conv1/Conv2D",
        "resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/BatchNorm/FusedBatchNorm",
        "resnet_v1_50/block1/unit_1/bottleneck_v1/add",
    ])
    assert slim.prefix == "resnet_v1_50" and slim.suffix is None
    assert slim.path("resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/BatchNorm/FusedBatchNorm") == (
        "block1", "unit_1", "bottleneck_v1", "conv1")
