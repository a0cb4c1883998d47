import { Type } from 'class-transformer';
import { ArrayNotEmpty, ArrayUnique, IsArray, IsBoolean, IsDate, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { REGISTRY_ACTIONS, type RegistryAction } from './access.types';
import { POLICY_SUBJECT } from './access-bootstrap.service';
import { REPOSITORY_GLOB } from './repository-glob';
import { ACCOUNT_NAME } from './user.service';

const NAME_MESSAGE = 'must be 1-64 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit';
const GLOB_MESSAGE = 'must be a repository name or glob (lower-case letters, digits, "._-/", "*" for any characters)';
const SUBJECT_MESSAGE = 'must be a user name, "group:<name>", "*" (any logged-in user) or "anonymous"';

export class CreateUserDto {
  @IsString() @Matches(ACCOUNT_NAME, { message: `name ${NAME_MESSAGE}` })
  name!: string;

  @IsString() @MinLength(8) @MaxLength(1024)
  password!: string;

  @IsOptional() @IsIn(['admin', 'user'])
  role?: 'admin' | 'user';
}

export class UpdateUserDto {
  @IsOptional() @IsString() @MinLength(8) @MaxLength(1024)
  password?: string;

  @IsOptional() @IsIn(['admin', 'user'])
  role?: 'admin' | 'user';

  @IsOptional() @IsBoolean()
  disabled?: boolean;
}

export class CreateGroupDto {
  @IsString() @Matches(ACCOUNT_NAME, { message: `name ${NAME_MESSAGE}` })
  name!: string;

  @IsOptional() @IsArray() @ArrayUnique() @IsString({ each: true })
  members?: string[];
}

export class CreateAccessTokenDto {
  @IsString() @MinLength(1) @MaxLength(100)
  name!: string;

  @IsOptional() @Type(() => Date) @IsDate()
  expiresAt?: Date;

  @IsOptional() @IsString() @Matches(REPOSITORY_GLOB, { message: `repositories ${GLOB_MESSAGE}` })
  repositories?: string;

  @IsOptional() @IsArray() @ArrayNotEmpty() @ArrayUnique() @IsIn(REGISTRY_ACTIONS, { each: true })
  actions?: RegistryAction[];
}

export class CreatePolicyDto {
  @IsString() @Matches(REPOSITORY_GLOB, { message: `repository ${GLOB_MESSAGE}` })
  repository!: string;

  @IsString() @Matches(POLICY_SUBJECT, { message: `user ${SUBJECT_MESSAGE}` })
  user!: string;

  @IsArray() @ArrayNotEmpty() @ArrayUnique() @IsIn(REGISTRY_ACTIONS, { each: true })
  permissions!: RegistryAction[];
}

export class UpdatePolicyDto {
  @IsOptional() @IsString() @Matches(REPOSITORY_GLOB, { message: `repository ${GLOB_MESSAGE}` })
  repository?: string;

  @IsOptional() @IsString() @Matches(POLICY_SUBJECT, { message: `user ${SUBJECT_MESSAGE}` })
  user?: string;

  @IsOptional() @IsArray() @ArrayNotEmpty() @ArrayUnique() @IsIn(REGISTRY_ACTIONS, { each: true })
  permissions?: RegistryAction[];
}

export class AccessCheckDto {
  @IsString() @Matches(/^(?:anonymous|[a-z0-9][a-z0-9._-]{0,63})$/, { message: 'user must be a user name or "anonymous"' })
  user!: string;

  @IsString() @MinLength(1) @MaxLength(255)
  repository!: string;

  @IsIn(REGISTRY_ACTIONS)
  action!: RegistryAction;
}
