// Hive Gateway as the public gateways benchmark configures it: identical inbound requests in
// flight share one execution, documents compiled with JIT.
import { defineConfig } from "@graphql-hive/gateway";

export const gatewayConfig = defineConfig({
  inboundInflightRequestDeduplication: true,
  jit: true,
});
