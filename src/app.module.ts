import { DynamicModule, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { AccessModule } from './access/access.module';
import { AuthModule } from './auth/auth.module';
import { BlobModule } from './blob/blob.module';
import { ClusterModule } from './cluster/cluster.module';
import { OciErrorFilter } from './common/errors/oci-error.filter';
import { RequestLimitsMiddleware } from './common/http/request-limits.middleware';
import { RegistryConfigModule } from './config/config.module';
import type { RegistryConfig } from './config/registry-config';
import { GcModule } from './gc/gc.module';
import { HealthModule } from './health/health.module';
import { ManifestModule } from './manifest/manifest.module';
import { MetadataModule } from './metadata/metadata.module';
import { MetricsModule } from './metrics/metrics.module';
import { StatsModule } from './stats/stats.module';
import { StorageModule } from './storage/storage.module';
import { UploadModule } from './upload/upload.module';

@Module({})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLimitsMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }

  static forRoot(config?: RegistryConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RegistryConfigModule.forRoot(config),
        ScheduleModule.forRoot(),
        ClusterModule,
        StorageModule,
        MetadataModule,
        // Express tries routes in registration order, which follows these imports: the
        // registry API first, the admin API (seventeen routes) after it.
        ManifestModule,
        BlobModule,
        UploadModule,
        AuthModule,
        AccessModule,
        GcModule,
        StatsModule,
        HealthModule,
        MetricsModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: OciErrorFilter }],
    };
  }
}
