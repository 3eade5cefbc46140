"""Graph neural networks on the knowledge graph: export to PyTorch Geometric, link prediction, write-back.

torch and torch_geometric come with the `gnn` extra (`pip install 'kg-service[gnn]'`); the
modules of this package import them, so import this package only where a GNN feature runs.
"""
