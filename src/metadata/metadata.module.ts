import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { openDatabase } from './database';
import { METADATA_DB } from './metadata.tokens';
import type { Database } from './schema';
import { UnitOfWork } from './unit-of-work';

@Global()
@Module({
  providers: [
    { provide: METADATA_DB, inject: [REGISTRY_CONFIG], useFactory: (config: RegistryConfig) => openDatabase(config.database) },
    UnitOfWork,
  ],
  exports: [UnitOfWork, METADATA_DB],
})
export class MetadataModule implements OnApplicationShutdown {
  constructor(@Inject(METADATA_DB) private readonly db: Kysely<Database>) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.destroy();
  }
}
