import { DynamicModule, Global, Module } from '@nestjs/common';
import { REGISTRY_CONFIG } from './config.tokens';
import { loadRegistryConfig } from './load-registry-config';
import type { RegistryConfig } from './registry-config';

@Global()
@Module({})
export class RegistryConfigModule {
  static forRoot(config: RegistryConfig = loadRegistryConfig(process.env)): DynamicModule {
    return { module: RegistryConfigModule, providers: [{ provide: REGISTRY_CONFIG, useValue: config }], exports: [REGISTRY_CONFIG] };
  }
}
