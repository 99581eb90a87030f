"""VGG-19's 16 convolutions: (usual name, block, index within block)."""

CONV_LAYERS = [
    (f"conv{block}_{index}", block, index)
    for block, count in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]
    for index in range(1, count + 1)
]
