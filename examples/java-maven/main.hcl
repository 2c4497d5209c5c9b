# flowplan example: test, build and package a Maven project kept in a local git repository
# (run.sh creates it under .flowplan/app.git). Offline: mvn -o builds against ~/.m2/repository.

flowplan {
  tools {
    jdk = { "17" = "/usr/lib/jvm/java-17-openjdk-amd64" }
  }
}

source "greeter" {
  url    = "${path.config}/.flowplan/app.git"
  branch = "master"
}

pipeline "greeter" {
  description = "Test, build and package the greeter"
  source      = source.greeter

  stage "test" {
    task "unit" {
      step "test" {
        type    = "maven_unit_test"
        command = "mvn -o -B test"
        jdk     = "17"
      }
    }
  }

  stage "build" {
    task "package" {
      step "jar" {
        type    = "java_build"
        command = "mvn -o -B package -DskipTests"
        jdk     = "17"
      }
      step "package" {
        type  = "archive"
        name  = "package"
        paths = ["target/*.jar", "deploy.sh"]
      }
    }
  }
}
