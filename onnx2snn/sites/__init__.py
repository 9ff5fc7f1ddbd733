"""Sites: the activations that become IF neurons, the nodes that block conversion, and the compensation units."""
