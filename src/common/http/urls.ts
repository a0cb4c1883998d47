import type { RegistryConfig } from '../../config/registry-config';

/** Absolute when a public URL is configured, else a path (clients accept both for Location). */
export function publicLocation(config: RegistryConfig, path: string): string {
  return config.http.publicUrl ? `${config.http.publicUrl}${path}` : path;
}
