declare module 'virtual:operation-scopes' {
  /** Each operationId of generated/openapi.json and its `x-required-scopes`. */
  const scopes: Record<string, string[]>;
  export default scopes;
}
