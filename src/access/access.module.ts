import { Module } from '@nestjs/common';
import { AccessBootstrapService } from './access-bootstrap.service';
import { AdminController } from './admin.controller';
import { AuditService } from './audit.service';
import { PolicyService } from './policy.service';
import { UserService } from './user.service';

/** Users, groups, access tokens, policies, the audit log and their admin REST API. */
@Module({
  controllers: [AdminController],
  providers: [UserService, PolicyService, AuditService, AccessBootstrapService],
  exports: [UserService, PolicyService, AuditService],
})
export class AccessModule {}
