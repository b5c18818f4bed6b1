"""Wire contracts (protobuf messages and gRPC services). Populated by the xApp issue."""
