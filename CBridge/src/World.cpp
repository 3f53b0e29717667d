// The Bullet multibody world. The simulation module (ReflexSim) builds arms and objects on top of it.
#include "CBridge.h"

#include <btBulletDynamicsCommon.h>
#include <BulletDynamics/Featherstone/btMultiBodyConstraintSolver.h>
#include <BulletDynamics/Featherstone/btMultiBodyDynamicsWorld.h>
#include <memory>

struct rx_world {
  btDefaultCollisionConfiguration collisionConfiguration;
  btCollisionDispatcher dispatcher{&collisionConfiguration};
  btDbvtBroadphase broadphase;
  btMultiBodyConstraintSolver solver;
  btMultiBodyDynamicsWorld world{&dispatcher, &broadphase, &solver, &collisionConfiguration};
  long steps = 0;
};

extern "C" {

rx_world *rx_world_create(double gravity_z) {
  auto *w = new rx_world();
  w->world.setGravity(btVector3(0, 0, btScalar(gravity_z)));
  return w;
}

void rx_world_destroy(rx_world *world) { delete world; }

void rx_world_step(rx_world *world, double dt) {
  world->world.stepSimulation(btScalar(dt), 0, btScalar(dt));
  world->steps += 1;
}

long rx_world_step_count(const rx_world *world) { return world->steps; }

} // extern "C"
