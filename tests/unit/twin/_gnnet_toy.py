"""A toy GNNet sample's topology and routing (3 nodes, SP/WFQ/FIFO), shared by the reader tests and the fuzz harness."""

GML = """graph [
  directed 1
  multigraph 1
  node [ id 0 label "0" schedulingPolicy "SP" queueSizes "16,16,16" levelsQoS 3 ]
  node [ id 1 label "1" schedulingPolicy "WFQ" schedulingWeights "50,30,20" queueSizes "8,8,8" ]
  node [ id 2 label "2" ]
  edge [ source 0 target 1 key 0 port 0 weight 1 bandwidth "1000" ]
  edge [ source 1 target 0 key 0 port 0 weight 1 bandwidth "1000" ]
  edge [ source 1 target 2 key 0 port 1 weight 1 bandwidth 2000.0 ]
  edge [ source 2 target 1 key 0 port 0 weight 1 bandwidth 2000.0 ]
]
"""
"""The topology file (GNNet's GML dialect)."""

ROUTING = "0;1\n0;1;2\n1;0\n1;2\n2;1;0\n2;1\n"
"""One routed node sequence per (src, dst) pair, in GNNet's routing-file format."""
