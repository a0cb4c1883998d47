import { Global, Module } from '@nestjs/common';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { CheckedDriver } from './checked.driver';
import { FilesystemDriver } from './filesystem.driver';
import type { StorageDriver } from './storage-driver';
import { STORAGE_DRIVER } from './storage.tokens';

@Global()
@Module({
  providers: [
    {
      provide: STORAGE_DRIVER,
      inject: [REGISTRY_CONFIG],
      useFactory: ({ storage }: RegistryConfig): StorageDriver => {
        switch (storage.driver) {
          case 'filesystem':
            return new CheckedDriver(new FilesystemDriver(storage.filesystem));
        }
      },
    },
  ],
  exports: [STORAGE_DRIVER],
})
export class StorageModule {}
