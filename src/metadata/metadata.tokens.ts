export const METADATA_DB = Symbol('METADATA_DB');
