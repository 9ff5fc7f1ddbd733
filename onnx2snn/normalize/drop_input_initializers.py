"""Old exporters list every weight as a graph input too; a weight is not an input of the network."""

import onnx


def drop_input_initializers(model):
    """Remove graph inputs that are also initializers (they keep their initializer value)."""
    names = {t.name for t in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in names]
    if len(kept) == len(model.graph.input):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model
