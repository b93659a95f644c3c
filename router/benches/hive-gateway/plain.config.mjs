// Hive Gateway with no request deduplication (documents still compiled with JIT).
import { defineConfig } from "@graphql-hive/gateway";

export const gatewayConfig = defineConfig({
  jit: true,
});
