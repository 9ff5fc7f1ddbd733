"""Give every node a unique name: errors, sites and reports refer to nodes by name."""

import onnx


def name_nodes(model):
    """Unnamed or duplicate node names become '<OpType>_<index>' (or '<name>_<index>')."""
    seen = set()
    renames = []
    for i, node in enumerate(model.graph.node):
        name = node.name
        if not name or name in seen:
            base = name or node.op_type
            name = f"{base}_{i}"
            while name in seen:
                name += "_"
            renames.append((i, name))
        seen.add(name)
    if not renames:
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for i, name in renames:
        model.graph.node[i].name = name
    return model
