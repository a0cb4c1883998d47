import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { AccessModule } from '../access/access.module';
import { MetricsModule } from '../metrics/metrics.module';
import { AuthChallenge } from './auth-challenge';
import { CredentialVerifier } from './credential.verifier';
import { PrincipalAccess } from './principal-access.service';
import { PrincipalResolver } from './principal.resolver';
import { RepositoryScopeGuard } from './repository-scope.guard';
import { SigningKeyService } from './signing-key.service';
import { TokenController } from './token.controller';
import { TokenService } from './token.service';

/** Docker token auth: `/token`, JWT issue and verify, credential checks, and the guard in front of every route. */
@Module({
  imports: [AccessModule, JwtModule.register({}), MetricsModule],
  controllers: [TokenController],
  providers: [
    SigningKeyService,
    TokenService,
    CredentialVerifier,
    AuthChallenge,
    PrincipalResolver,
    PrincipalAccess,
    { provide: APP_GUARD, useClass: RepositoryScopeGuard },
  ],
  exports: [PrincipalAccess],
})
export class AuthModule {}
