// Catalog entry point for Node code (CLI, router, activities). Workflow code: import './prices' and './classify' only.
export * from './prices';
export * from './classify';
export { CatalogError, CatalogSchema, formatIssue, loadCatalog, mergeCatalog, parseCatalogText, type CatalogFile } from './load';
