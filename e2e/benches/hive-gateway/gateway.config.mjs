// Hive Gateway's configuration in the load harness (e2e/benches/load.rs): the platform's
// subgraphs authenticate every call, so the client's Authorization header goes along,
// as our router forwards it.
export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      return { authorization: request.headers.get('authorization') };
    },
  },
};
