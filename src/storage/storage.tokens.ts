export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');
