import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { AccessModule } from '../access/access.module';
import { ClusterModule } from '../cluster/cluster.module';
import { RegistryConfigModule } from '../config/config.module';
import type { RegistryConfig } from '../config/registry-config';
import { GcModule } from '../gc/gc.module';
import { MetadataModule } from '../metadata/metadata.module';
import { StorageModule } from '../storage/storage.module';
import { BackupService } from './backup.service';

/**
 * What the admin CLI runs in: an application context (no HTTP server) over the same
 * modules and services as the server, so a user created or a GC pass run here is exactly
 * what the admin REST API would do. Only what the commands need is imported: users
 * (AccessModule), GC (GcModule, which brings blobs, uploads and auth with it) and the
 * infrastructure. The GC schedule is off: the CLI runs one pass when asked, never on a timer.
 */
@Module({})
export class CliModule {
  static forRoot(config: RegistryConfig): DynamicModule {
    const cliConfig: RegistryConfig = Object.freeze({ ...config, gc: Object.freeze({ ...config.gc, intervalMs: 0 }) });
    return {
      module: CliModule,
      imports: [RegistryConfigModule.forRoot(cliConfig), ScheduleModule.forRoot(), ClusterModule, StorageModule, MetadataModule, AccessModule, GcModule],
      providers: [BackupService],
    };
  }
}
