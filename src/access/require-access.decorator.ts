import { SetMetadata } from '@nestjs/common';
import type { RouteAccess } from './access.types';

export const ROUTE_ACCESS = Symbol('ROUTE_ACCESS');

/**
 * Declares what a route needs. Every route must carry one (on the handler or its controller):
 * the guard refuses routes without it, so a new endpoint cannot be open by accident.
 */
export const RequireAccess = (access: RouteAccess): MethodDecorator & ClassDecorator => SetMetadata(ROUTE_ACCESS, access);
