"""Old exporters list every weight as a graph input too; a weight is not an input of the network.

IR versions before 4 require every initializer to be a graph input, so a model is also raised to IR 4 (which
only drops that rule): otherwise the checker and the opset converter reject the weights once they are not
inputs ("Input 1 is undefined!"). ONNX Runtime runs both forms alike.
"""

import onnx

FIRST_IR_WITHOUT_INPUT_INITIALIZERS = 4


def allow_initializers_outside_inputs(model):
    """``model`` itself when its IR version allows initializers that are not graph inputs, else a copy at IR 4."""
    if model.ir_version >= FIRST_IR_WITHOUT_INPUT_INITIALIZERS:
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.ir_version = FIRST_IR_WITHOUT_INPUT_INITIALIZERS
    return model


def drop_input_initializers(model):
    """Remove graph inputs that are also initializers (they keep their initializer value); IR 3 becomes IR 4.

    IR versions 1 and 2 are left as they are: upgrade_opset refuses them with its own message."""
    if model.ir_version == 3:
        model = allow_initializers_outside_inputs(model)
    names = {t.name for t in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in names]
    if len(kept) == len(model.graph.input):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model
